"""What tests share besides fixtures: paths, the token, RAYNET's webhook body, AWS settings.

Test modules import these from here; ``conftest.py`` holds only fixtures.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def _configured_xsd_dir() -> Path:
    configured = os.environ.get("MONEY_S3_XSD_DIR")
    return Path(configured) if configured else SHARED / "money-s3-xsd"


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


TOKEN = "test-token-0123456789abcdef"


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


def s3_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@dataclass(frozen=True)
class AwsQueue:
    """SQS mode's resources on the moto server, with the environment that reaches them."""

    env: dict[str, str]
    queue_url: str
    dead_letter_url: str
    table: str
    bucket: str
    max_receives: int


class TestClock:
    """The state's clock in tests: real time, moved on at will (``advance``)."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0 if start is None else start - time.time()

    def __call__(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


def share(folder: Path) -> str:
    """An export folder that exists, as a mounted share does (the bridge creates none)."""
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def examples(wanted: int) -> int:
    """Hypothesis examples for a property: ``wanted`` (``make test``, CI), a tenth of it and
    at least 10 with ``HYPOTHESIS_PROFILE=fast`` (``make test-fast``: the quick loop)."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "fast":
        return max(10, wanted // 10)
    return wanted
