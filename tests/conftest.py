"""Shared fixtures: the Money S3 schema, the local RAYNET API, sample RAYNET records.

Tests that need moto's AWS server are marked ``aws``, those that need a redis-server
``redis`` and the browser tests ``browser`` here, so that ``make test-fast`` can leave them
(and the ``slow`` ones) out.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.servers import (
    Inbox,
    Service,
    create_aws_resources,
    free_port,
    moto_server,
    redis_server,
    start_smtp,
)
from tests.support import TOKEN, AwsQueue, S3Bucket, s3_environment, share, xsd_dir
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.demo import sample_case, sample_company
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import Settings, load_settings
from webhook.web import create_app

AWS_FIXTURES = {"moto_url", "bucket", "aws"}
REDIS_FIXTURES = {"redis_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if AWS_FIXTURES & used:
            item.add_marker(pytest.mark.aws)
        if REDIS_FIXTURES & used:
            item.add_marker(pytest.mark.redis)


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
    "BUTTON_",
    "RATE_LIMIT_",
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a service whose state and exports live in the test's temporary folder."""
    return load_settings(
        {
            "WEBHOOK_TOKEN": TOKEN,
            "STATE_DB": str(tmp_path / "var" / "state.db"),
            "EXPORT_TARGET": share(tmp_path / "exports"),
            "MONEY_S3_XSD_DIR": str(xsd_dir()),
        }
    )


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def env(raynet: RaynetStandIn, tmp_path: Path) -> dict[str, str]:
    return {
        **raynet.environment(),
        "WEBHOOK_TOKEN": TOKEN,
        "STATE_DB": str(tmp_path / "var" / "state.db"),
        "EXPORT_TARGET": share(tmp_path / "exports"),
        "MONEY_S3_XSD_DIR": str(xsd_dir()),
        "WORKER_POLL_SECONDS": "0.05",
        "WORKER_BACKOFF_BASE": "0.1",
        "WORKER_BACKOFF_MAX": "0.5",
        "WORKER_LEASE_SECONDS": "5",
    }


@pytest.fixture
def service(env: dict[str, str], tmp_path: Path) -> Any:
    started: list[Service] = []

    def start(*extra: str, **overrides: str) -> Service:
        started.append(Service({**env, **overrides}, tmp_path, *extra))
        return started[-1]

    yield start
    for running in started:
        running.process.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    port = free_port()
    controller, inbox = start_smtp(port)
    yield port, inbox
    controller.stop()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3 API over HTTP on 127.0.0.1 (moto server), shared by the session."""
    port = free_port()
    server = moto_server(port, tmp_path_factory.mktemp("moto") / "moto.log")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own on 127.0.0.1, empty, stopped after the test:
    ``RATE_LIMIT_STORAGE`` for hosts that share limits and sessions."""
    port = free_port()
    server = redis_server(port, tmp_path / "redis.log")
    yield f"redis://127.0.0.1:{port}"
    server.stop()


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


@pytest.fixture(params=["sqlite", pytest.param("sqs", marks=pytest.mark.aws)])
def state_mode(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings of each state mode, for a test that must hold in both: none (a state
    file), or SQS + DynamoDB + S3 on moto."""
    if request.param == "sqs":
        aws: AwsQueue = request.getfixturevalue("aws")
        return aws.env
    return {}


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
