"""``python -m webhook ...``: the bridge's command line.

Exit codes: 0 done, 1 failed (the reason is one line on stderr), 2 configuration or usage
error, 3 the business case is not exportable (not won, no products).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from webhook.config import Settings, load_settings
from webhook.delivery import Target, target_from_setting
from webhook.delivery.stdout import StdoutTarget
from webhook.errors import BridgeError, ConfigError
from webhook.moneys3.validation import DocumentValidator
from webhook.pipeline import CaseSource, Renderer, Skipped, export_case
from webhook.raynet.client import RaynetClient
from webhook.raynet.saved import SavedResponses

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NOT_EXPORTABLE = 3
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(command: F) -> F:
    """Turn the bridge's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            fail(str(error), EXIT_CONFIG)
        except BridgeError as error:
            fail(str(error))

    return wrapper  # type: ignore[return-value]


@click.group()
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def main(log_level: str) -> None:
    """RAYNET CRM → Money S3 bridge: won deals become received orders."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")


output_option = click.option(
    "--output",
    "-o",
    metavar="DIR|s3://BUCKET/PREFIX|-",
    default=None,
    help="Where the file goes; '-' prints it. Default: EXPORT_TARGET (./exports).",
)
stock_option = click.option(
    "--stock/--no-stock",
    default=None,
    help="Stock-linked items (Sklad + KmKarta by product code). Default: MONEY_S3_STOCK.",
)


@main.command()
@click.argument("case_id", type=click.IntRange(min=1), metavar="BUSINESS_CASE_ID")
@stock_option
@output_option
@reports_errors
def export(case_id: int, stock: bool | None, output: str | None) -> None:
    """Export one business case from RAYNET, like Akce → Export → Money S3."""
    settings = load_settings()
    client = RaynetClient(settings.require_raynet())
    _export(case_id, client, settings, stock, output)


@main.command()
@click.argument("case_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("company_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--currency", metavar="ISO", help="ISO code of the case's currency, e.g. EUR.")
@stock_option
@output_option
@reports_errors
def render(
    case_file: Path,
    company_file: Path,
    currency: str | None,
    stock: bool | None,
    output: str | None,
) -> None:
    """Export offline from saved API responses (businessCase and company JSON)."""
    settings = load_settings()
    source = SavedResponses(case_file, company_file, currency)
    _export(source.case_id, source, settings, stock, output)


def _export(
    case_id: int, source: CaseSource, settings: Settings, stock: bool | None, output: str | None
) -> None:
    renderer = renderer_for(settings, stock)
    to_stdout = output == "-"
    target: Target = StdoutTarget() if to_stdout else _target(settings, output)
    outcome = export_case(case_id, source, renderer, target, generation=None)
    if isinstance(outcome, Skipped):
        fail(f"{outcome.case_code} not exported: {outcome.reason}", EXIT_NOT_EXPORTABLE)
    if not to_stdout:
        click.echo(f"exported {outcome.case_code} to {outcome.location}")


def renderer_for(settings: Settings, stock: bool | None = None) -> Renderer:
    """The renderer the settings describe; ``stock`` overrides MONEY_S3_STOCK."""
    validator = DocumentValidator(settings.xsd_dir) if settings.xsd_dir else None
    return Renderer(settings.export_options(stock), validator)


def _target(settings: Settings, output: str | None) -> Target:
    return target_from_setting(
        output or settings.export_target,
        s3_sse=settings.s3_sse,
        s3_kms_key_id=settings.s3_kms_key_id,
    )
