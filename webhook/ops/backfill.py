"""``python -m webhook backfill``: won cases changed since a date that were never exported
(an outage longer than RAYNET's 7-day retry, a new installation)."""

from __future__ import annotations

import datetime as dt
import sys

import click

from webhook.ops.console import chosen_settings, reports_errors, say
from webhook.wiring import build_raynet_client, open_state
from webhook.worker.reconcile import queue_unexported


@click.command()
@click.option(
    "--since",
    required=True,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
    help="Date (local time) from which changed won cases are looked for.",
)
@reports_errors
def backfill(since: dt.datetime) -> None:
    """Queue won cases changed since a date that were never exported (outage, new install)."""
    settings = chosen_settings()
    client = build_raynet_client(settings)
    state = open_state(settings)
    with click.progressbar(
        client.won_cases_changed_since(since.astimezone()),
        label="won cases",
        show_pos=True,
        file=sys.stderr,
    ) as cases:
        listed, queued = queue_unexported(state.queue, state.records, cases)
    left = client.rate_limit.remaining
    say(
        f"{listed} won case(s) changed since {since:%Y-%m-%d %H:%M}; {len(queued)} queued for "
        f"export, the rest are exported or waiting already "
        f"({client.requests_sent} RAYNET API call(s)"
        + (f", {left:,} left today)" if left is not None else ")")
    )
