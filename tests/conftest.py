"""Shared fixtures: the Money S3 schema, the local RAYNET API, sample RAYNET records."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.servers import create_aws_resources, free_port, moto_server
from webhook import create_app
from webhook.config import Settings, load_settings
from webhook.demo import sample_case, sample_company
from webhook.moneys3.validation import DocumentValidator
from webhook.raynet.standin import RaynetStandIn

ROOT = Path(__file__).resolve().parent.parent


def _configured_xsd_dir() -> Path:
    configured = os.environ.get("MONEY_S3_XSD_DIR")
    return Path(configured) if configured else ROOT.parent / "shared" / "money-s3-xsd"


# Read once, before ``clean_environment`` hides the developer's variables from each test.
XSD_DIR = _configured_xsd_dir()


def xsd_dir() -> Path:
    """Seyfor's XSDs: ``MONEY_S3_XSD_DIR``, else ``../shared/money-s3-xsd`` beside the repo."""
    if not (XSD_DIR / "_Document.xsd").is_file():
        pytest.fail(
            f"Money S3 XSDs not found in {XSD_DIR}: set MONEY_S3_XSD_DIR to the folder "
            "holding _Document.xsd (every generated document is validated against it)"
        )
    return XSD_DIR


@pytest.fixture(scope="session")
def validator() -> DocumentValidator:
    return DocumentValidator(xsd_dir())


@pytest.fixture
def won_case() -> dict[str, Any]:
    """RAYNET's business case 1234 (won, two items) as the API returns it in ``data``."""
    return sample_case()


@pytest.fixture
def company() -> dict[str, Any]:
    """RAYNET's company 881, the client of ``won_case``."""
    return sample_company()


@pytest.fixture
def raynet(won_case: dict[str, Any], company: dict[str, Any]) -> Iterator[RaynetStandIn]:
    """A running RAYNET API stand-in on 127.0.0.1 that knows ``won_case`` and ``company``."""
    with RaynetStandIn() as api:
        api.add_case(won_case)
        api.add_company(company)
        yield api


BRIDGE_PREFIXES = (
    "RAYNET_",
    "MONEY_S3_",
    "EXPORT_",
    "STATE_",
    "WEBHOOK_",
    "SYNC_",
    "WORKER_",
    "S3_",
    "ADMIN_",
    "SMTP_",
    "NOTIFY_",
    "RECONCILE_",
    "QUEUE_",
    "BRIDGE_",
    "AWS_",
    "PUBLIC_URL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the variables they set, never the developer's own configuration."""
    for name in list(os.environ):
        if name.startswith(BRIDGE_PREFIXES):
            monkeypatch.delenv(name)


TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a service whose state and exports live in the test's temporary folder."""
    return load_settings(
        {
            "WEBHOOK_TOKEN": TOKEN,
            "STATE_DB": str(tmp_path / "var" / "state.db"),
            "EXPORT_TARGET": str(tmp_path / "exports"),
            "MONEY_S3_XSD_DIR": str(xsd_dir()),
        }
    )


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def webhook_body(
    case_id: int = 1234,
    event_id: str | None = None,
    kind: str = "record.updated",
    entity: str = "BusinessCase",
) -> dict[str, Any]:
    """A webhook as RAYNET posts it."""
    return {
        "eventId": event_id or secrets.token_hex(16),
        "createdAt": "2024-05-14T10:32:05.417+02:00",
        "type": kind,
        "author": "petr.svoboda@dodavatel.cz",
        "source": {"name": "user", "description": "browser"},
        "data": {"entityName": entity, "entityId": case_id, "extIds": None},
    }


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the moto S3 server, with the environment that reaches it."""

    name: str
    env: dict[str, str]
    client: Any


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 API over HTTP on 127.0.0.1 (moto server), shared by the session."""
    port = free_port()
    server = moto_server(port, tmp_path_factory.mktemp("moto") / "moto.log")
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    env = s3_environment(moto_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    name = f"orders-{secrets.token_hex(4)}"
    client.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    return S3Bucket(name, env, client)


@dataclass(frozen=True)
class AwsQueue:
    """SQS mode's resources on the moto server, with the environment that reaches them."""

    env: dict[str, str]
    queue_url: str
    dead_letter_url: str
    table: str
    bucket: str
    max_receives: int


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> AwsQueue:
    env = s3_environment(moto_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    made = create_aws_resources(boto3.Session())
    return AwsQueue(
        env={**env, **made.environment(), "QUEUE_WAIT_SECONDS": "0"},
        queue_url=made.queue_url,
        dead_letter_url=made.dead_letter_url,
        table=made.table,
        bucket=made.bucket,
        max_receives=made.max_receives,
    )
