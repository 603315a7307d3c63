"""``python -m webhook check``: is this installation ready to export, item by item?

One line per item: PASS, FAIL (counted: exit code 1) or WARN (a check that could not be
made, or a choice worth a second look).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable

import click

from webhook.errors import BridgeError, ConfigError
from webhook.moneys3.builder import StockKey
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.console import EXIT_CONFIG, EXIT_FAILED, chosen_settings, say
from webhook.raynet.webhooks import webhook_problem
from webhook.settings.environment import BOOKKEEPING_VARIABLES, Settings
from webhook.wiring import build_raynet_client, build_target, open_state


class _Warning(Exception):
    """A check that could not be made; reported, not counted as a failure."""


@click.command()
def check() -> None:
    """Check the configuration, one RAYNET API call, the state file and the export target."""
    try:
        settings = chosen_settings()
    except ConfigError as error:
        say(f"FAIL  configuration: {error}")
        sys.exit(EXIT_CONFIG)
    say("PASS  configuration: every variable is valid")
    failures = 0
    for name, test in CHECKS:
        if name == "AWS state" and not settings.queue_url:
            continue
        try:
            detail = test(settings)
        except _Warning as warning:
            say(f"WARN  {name}: {warning}")
        except (BridgeError, OSError, sqlite3.Error) as error:
            failures += 1
            say(f"FAIL  {name}: {error}")
        else:
            say(f"PASS  {name}: {detail}")
    sys.exit(EXIT_FAILED if failures else 0)


def _webhook_token(settings: Settings) -> str:
    settings.check_receiver()
    return "set" if settings.webhook_token else "not set: WEBHOOK_ALLOW_NO_TOKEN=1"


def _state_store(settings: Settings) -> str:
    open_state(settings).queue.probe()
    if settings.queue_url:
        return "the SQS queue and the DynamoDB table take writes"
    return f"{settings.state_db} takes writes"


def _export_target(settings: Settings) -> str:
    target = build_target(settings)
    target.check()
    return f"{target.description} takes files"


def _xsd(settings: Settings) -> str:
    if settings.xsd_dir is None:
        return "MONEY_S3_XSD_DIR not set: documents are not validated before delivery"
    DocumentValidator(settings.xsd_dir)
    return f"{settings.xsd_dir} loaded; every document is validated"


def _raynet(settings: Settings) -> str:
    client = build_raynet_client(settings)
    count = len(client.currencies())
    left = client.rate_limit.remaining
    return f"instance {settings.require_raynet().instance} answered ({count} currencies)" + (
        f"; {left:,} requests left today" if left is not None else ""
    )


def _raynet_webhook(settings: Settings) -> str:
    expected = settings.webhook_url()
    if expected is None:
        raise _Warning("PUBLIC_URL not set: cannot tell whether RAYNET still calls this bridge")
    webhooks = build_raynet_client(settings).webhooks()
    return webhook_problem(webhooks, expected, settings.webhook_token)


def _button(settings: Settings) -> str:
    if settings.button_key is None:
        raise _Warning(
            "BUTTON_KEY not set: anyone can press the Export button's URL (rate-limited, "
            "RAYNET verifies each press)"
        )
    return "BUTTON_KEY set: presses without it never reach RAYNET"


def _write_back(settings: Settings) -> str:
    if not settings.write_back:
        return "off (RAYNET_WRITE_BACK=0): nothing is written to RAYNET"
    locked = ", and the case is locked" if settings.lock_exported else ""
    return f"after each file RAYNET gets an external id and a post{locked}"


def _exchange_rates(settings: Settings) -> str:
    base, home = settings.raynet_base_currency, settings.home_currency
    if base is None:
        raise _Warning(
            "RAYNET_BASE_CURRENCY not set (RAYNET's API does not say its default currency): "
            "orders in other currencies carry no Kurs, Money S3 takes its own rate"
        )
    if base != home:
        return (
            f"RAYNET's rates convert into {base}, Money S3's currency is {home}: no Kurs is "
            "written, Money S3 takes the rate from its own list"
        )
    return f"RAYNET's rates convert into {base}, Money S3's currency: written as Kurs"


def _stock_cards(settings: Settings) -> str:
    if not settings.stock:
        return "plain variant: items are non-stock lines (NesklPolozka)"
    if settings.stock_key is StockKey.BARCODE:
        return (
            "stock variant, RAYNET's product code as Katalog and BarCode: Money S3's default "
            "import definition finds cards whose barcode is that code"
        )
    raise _Warning(
        "stock variant by Katalog: Money S3's default import definition matches stock cards "
        "by BarCode, so the definition's KmKarta key must be set to Katalog (needs the XML DE "
        "Profi module); else set MONEY_S3_STOCK_KEY=barcode"
    )


def _custom_fields(settings: Settings) -> str:
    wanted = settings.bookkeeping.custom_labels()
    if not wanted:
        return "no custom field of RAYNET's is mapped"
    known = build_raynet_client(settings).custom_field_keys()
    missing = sorted(wanted - set(known))
    if missing:
        sources = settings.bookkeeping.sources()
        variables = ", ".join(
            variable
            for variable, name, _ in BOOKKEEPING_VARIABLES
            if (source := sources[name]) is not None and source.custom_label in missing
        )
        raise BridgeError(
            f"RAYNET's business cases have no custom field named {', '.join(missing)} "
            f"({variables}); GET customField/config/ lists them"
        )
    return "mapped custom fields exist: " + ", ".join(sorted(wanted))


def describe_aws_state(settings: Settings) -> str:
    """What the SQS mode needs of its table and queue: the outbox's index, expiring items,
    and a dead-letter queue that takes only what no worker can settle."""
    import boto3  # noqa: PLC0415 - only the AWS mode needs boto3, slow to import: no cycle

    assert settings.state_table is not None
    table = boto3.client("dynamodb").describe_table(TableName=settings.state_table)["Table"]
    indexes = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    if "due" not in indexes:
        raise BridgeError(
            f"STATE_TABLE {settings.state_table} has no index 'due' (the outbox's); create it "
            "as the README's AWS set-up shows"
        )
    queue = open_state(settings).queue
    receives = getattr(queue, "max_receives", 0)
    attempts = settings.worker.max_attempts
    if receives < 2 * attempts:
        raise _Warning(
            f"the queue's maxReceiveCount {receives} is not well above WORKER_MAX_ATTEMPTS "
            f"{attempts}: a case could reach the dead-letter queue before its last attempt; "
            f"set it to {2 * attempts} or more"
        )
    return f"table with the outbox's index; maxReceiveCount {receives} for {attempts} attempts"


CHECKS: tuple[tuple[str, Callable[[Settings], str]], ...] = (
    ("webhook token", _webhook_token),
    ("Export button", _button),
    ("write-back to RAYNET", _write_back),
    ("state file", _state_store),
    ("export target", _export_target),
    ("Money S3 schema", _xsd),
    ("exchange rates", _exchange_rates),
    ("stock cards", _stock_cards),
    ("RAYNET API", _raynet),
    ("RAYNET custom fields", _custom_fields),
    ("RAYNET webhook", _raynet_webhook),
    ("AWS state", describe_aws_state),
)
