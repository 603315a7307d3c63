"""Configuration: every problem named by its variable, secrets never shown."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.servers import run_bridge
from tests.support import xsd_dir
from webhook.errors import ConfigError
from webhook.moneys3.numbering import OrderNumbering
from webhook.ops.console import EXIT_CONFIG
from webhook.settings.environment import load_settings


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
                "MONEY_S3_ORDER_NUMBER": "money-s3",
                "MONEY_S3_ORDER_PREFIX": "R-",
                "PUBLIC_URL": "bridge.firma.cz",
                "RAYNET_USERNAME": "a@b.cz",
                "RAYNET_API_URL": "ftp://x",
                "WORKER_MAX_ATTEMPTS": "zero",
                "S3_SSE": "rot13",
            }
        )
    message = str(caught.value)
    for variable in (
        "MONEY_S3_ORDER_NUMBER",
        "MONEY_S3_ORDER_PREFIX",
        "PUBLIC_URL",
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
            "WEBHOOK_TOKEN": "s3cr3t-token-of-16-chars",
        }
    )
    assert "s3cr3t" not in repr(settings)
    assert settings.require_raynet().api_key == "s3cr3t-key"


def test_stock_variant_with_or_without_a_warehouse() -> None:
    settings = load_settings({"MONEY_S3_WAREHOUSE": "HL"})
    assert not settings.export_options().stock  # plain unless asked
    options = settings.export_options(stock=True)
    assert options.stock
    assert options.warehouse is not None
    assert (options.warehouse.code, options.warehouse.name) == ("HL", "Hlavní sklad")
    unset = load_settings({"MONEY_S3_STOCK": "1"}).export_options()  # Money's import decides
    assert (unset.stock, unset.warehouse) == (True, None)


def test_order_numbering_and_public_url() -> None:
    settings = load_settings({})
    assert (settings.order_numbering, settings.order_prefix) == (OrderNumbering.CASE, "R")
    assert settings.webhook_url() is None
    settings = load_settings(
        {
            "MONEY_S3_ORDER_NUMBER": "MONEY",
            "MONEY_S3_ORDER_PREFIX": "ab",
            "PUBLIC_URL": "https://bridge.firma.cz/",
            "RAYNET_TECHNICAL_CONTACT": "ops@firma.cz, it@firma.cz",
        }
    )
    assert settings.export_options().numbering is OrderNumbering.MONEY
    assert settings.order_prefix == "AB"
    assert settings.webhook_url() == "https://bridge.firma.cz/webhooks/raynet"
    assert replace(settings, instance="a").webhook_url() == (
        "https://bridge.firma.cz/webhooks/raynet/a"
    )
    assert settings.technical_contacts == ("ops@firma.cz", "it@firma.cz")


def test_xsd_dir_must_hold_the_schema(tmp_path: Path) -> None:
    assert load_settings({"MONEY_S3_XSD_DIR": str(xsd_dir())}).xsd_dir == xsd_dir()
    with pytest.raises(ConfigError, match="MONEY_S3_XSD_DIR"):
        load_settings({"MONEY_S3_XSD_DIR": str(tmp_path)})


@pytest.mark.parametrize("command", [["check"], ["serve", "--no-worker"]])
@pytest.mark.parametrize(
    ("variables", "named", "secret"),
    [
        (
            {"SMTP_URL": "smtp://u:pw-1234@host:notaport", "NOTIFY_EMAIL": "a@b.cz"},
            "SMTP_URL",
            "pw-1234",
        ),
        (
            {"RAYNET_API_URL": "https://u:pw-5678@app.raynet.cz/api/v2/"},
            "RAYNET_API_URL",
            "pw-5678",
        ),
        ({"RAYNET_API_URL": "ftp://u:pw-9012@host/"}, "RAYNET_API_URL", "pw-9012"),
        ({"WEBHOOK_TOKEN": "short-1234"}, "WEBHOOK_TOKEN", "short-1234"),
    ],
)
def test_a_configuration_error_is_one_line_exit_2_without_its_secret(
    command: list[str], variables: dict[str, str], named: str, secret: str, tmp_path: Path
) -> None:
    """``serve`` and ``check`` alike: no traceback, exit 2, the variable named, the
    password or token in it never printed."""
    env = {
        "WEBHOOK_TOKEN": "a-token-of-sixteen-chars",
        "RAYNET_USERNAME": "api@firma.cz",
        "RAYNET_API_KEY": "key-0123456789",
        "RAYNET_INSTANCE": "firma",
        "STATE_DB": str(tmp_path / "state.db"),
        "EXPORT_TARGET": str(tmp_path / "exports"),
        **variables,
    }
    completed = run_bridge(command, env)
    assert completed.returncode == EXIT_CONFIG, completed.stderr
    said = completed.stdout + completed.stderr  # check's FAIL line is on stdout
    assert said.count("\n") == 1, said
    assert named in said
    assert secret not in said
