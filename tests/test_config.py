"""Configuration: every problem named by its variable, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import xsd_dir
from webhook.config import load_settings
from webhook.errors import ConfigError


def test_embedded_defaults() -> None:
    settings = load_settings({})
    assert settings.export_target == "./exports"
    assert settings.state_db == Path("./var/state.db")
    assert settings.raynet is None
    assert settings.export_options().warehouse is None
    assert settings.sync_enabled


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "MONEY_S3_STOCK": "1",
                "RAYNET_USERNAME": "a@b.cz",
                "RAYNET_API_URL": "ftp://x",
                "WORKER_MAX_ATTEMPTS": "zero",
                "S3_SSE": "rot13",
            }
        )
    message = str(caught.value)
    for variable in (
        "MONEY_S3_WAREHOUSE",
        "RAYNET_API_KEY, RAYNET_INSTANCE",
        "RAYNET_API_URL",
        "WORKER_MAX_ATTEMPTS",
        "S3_SSE",
    ):
        assert variable in message


def test_secrets_stay_out_of_repr() -> None:
    settings = load_settings(
        {
            "RAYNET_USERNAME": "a@b.cz",
            "RAYNET_API_KEY": "s3cr3t-key",
            "RAYNET_INSTANCE": "firma",
            "WEBHOOK_TOKEN": "s3cr3t-token",
        }
    )
    assert "s3cr3t" not in repr(settings)
    assert settings.require_raynet().api_key == "s3cr3t-key"


def test_stock_variant_needs_a_warehouse() -> None:
    settings = load_settings({"MONEY_S3_WAREHOUSE": "HL"})
    assert settings.export_options().warehouse is None  # plain unless asked
    stock = settings.export_options(stock=True).warehouse
    assert stock is not None
    assert (stock.code, stock.name) == ("HL", "Hlavní sklad")
    with pytest.raises(ConfigError, match="MONEY_S3_WAREHOUSE"):
        load_settings({}).export_options(stock=True)


def test_xsd_dir_must_hold_the_schema(tmp_path: Path) -> None:
    assert load_settings({"MONEY_S3_XSD_DIR": str(xsd_dir())}).xsd_dir == xsd_dir()
    with pytest.raises(ConfigError, match="MONEY_S3_XSD_DIR"):
        load_settings({"MONEY_S3_XSD_DIR": str(tmp_path)})
