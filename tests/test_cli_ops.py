"""Ops commands and the reconciliation, against the local RAYNET API (429s included)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.harness import Harness
from tests.support import TOKEN, share
from webhook.ops.cli import main
from webhook.ops.console import EXIT_CONFIG, EXIT_FAILED
from webhook.raynet.standin import RaynetStandIn
from webhook.state.model import CaseState
from webhook.wiring import build_raynet_client
from webhook.worker.reconcile import Reconciler

HOOK_URL = "https://bridge.firma.cz/webhooks/raynet"


def env_for(raynet: RaynetStandIn, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **raynet.environment(),
        "WEBHOOK_TOKEN": TOKEN,
        "STATE_DB": str(tmp_path / "state.db"),
        "EXPORT_TARGET": share(tmp_path / "exports"),
        **extra,
    }


def run(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def raynet_time(moment: dt.datetime) -> str:
    """RAYNET's date and time for the stand-in's API user (UTC)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def add_won(
    raynet: RaynetStandIn,
    template: dict[str, Any],
    case_id: int,
    modified: dt.datetime,
    status: str = "E_WIN",
) -> None:
    case = copy.deepcopy(template)
    case.update(
        {
            "id": case_id,
            "code": f"OP-{case_id}",
            "status": status,
            "rowInfo.updatedAt": raynet_time(modified),
        }
    )
    raynet.add_case(case)


def test_check_passes_item_by_item(raynet: RaynetStandIn, tmp_path: Path) -> None:
    result = run(["check"], env_for(raynet, tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PASS  configuration",
        "PASS  webhook token",
        "WARN  Export button",
        "PASS  write-back to RAYNET",
        "PASS  state file",
        "PASS  export target",
        "PASS  Money S3 schema",
        "WARN  exchange rates",
        "PASS  stock cards",
        "PASS  RAYNET API",
        "PASS  RAYNET custom fields",
        "WARN  RAYNET webhook",
    ]
    assert "24,000 requests left" in lines[-3] or "23," in lines[-3]
    assert "PUBLIC_URL not set" in lines[-1]
    assert "BUTTON_KEY not set" in lines[2]
    assert "RAYNET_BASE_CURRENCY not set" in lines[7]
    assert len(raynet.requests) == 1
    keyed = run(["check"], env_for(raynet, tmp_path, BUTTON_KEY="b" * 20))
    assert "PASS  Export button: BUTTON_KEY set" in keyed.output
    assert "b" * 20 not in keyed.output


def test_check_fails_when_raynet_has_no_webhook_for_this_bridge(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    """RAYNET deletes a webhook after 7 days of failed deliveries; check must notice."""
    env = env_for(raynet, tmp_path, PUBLIC_URL="https://bridge.firma.cz")
    missing = run(["check"], env)
    assert missing.exit_code == EXIT_FAILED
    assert "FAIL  RAYNET webhook: RAYNET has no webhook calling " + HOOK_URL in missing.output
    registered = run(["register-webhook"], {**env, "RAYNET_TECHNICAL_CONTACT": "ops@firma.cz"})
    assert registered.exit_code == 0, registered.output
    assert raynet.technical_contacts == ["ops@firma.cz"]
    passing = run(["check"], env)
    assert passing.exit_code == 0, passing.output
    assert "PASS  RAYNET webhook" in passing.output
    assert "RAYNET e-mails ops@firma.cz when it fails" in passing.output
    (hook,) = raynet.webhooks.values()
    hook["secretToken"] = "another-token-0123456789"
    assert "sends another token than WEBHOOK_TOKEN" in run(["check"], env).output
    hook["secretToken"], hook["eventsFilter"] = TOKEN, ["record.created"]
    assert "does not send record.updated" in run(["check"], env).output


def test_check_reports_each_failure(raynet: RaynetStandIn, tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the folder should be")
    env = env_for(
        raynet, tmp_path, RAYNET_API_KEY="wrong-key-77", EXPORT_TARGET=str(tmp_path / "blocked")
    )
    result = run(["check"], env)
    assert result.exit_code == EXIT_FAILED
    assert "FAIL  export target" in result.output
    assert "FAIL  RAYNET API: RAYNET refused the credentials" in result.output
    assert "wrong-key-77" not in result.output
    assert len(raynet.requests) == 1
    broken = run(["check"], {**env, "MONEY_S3_ORDER_NUMBER": "sometimes"})
    assert broken.exit_code == EXIT_CONFIG
    assert "FAIL  configuration" in broken.output


def test_register_adds_our_technical_contact_to_the_instances_own(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    """Technical contacts are the whole RAYNET instance's: others' are kept."""
    raynet.technical_contacts = ["it@firma.cz", "ops@firma.cz"]
    env = env_for(raynet, tmp_path, RAYNET_TECHNICAL_CONTACT="ops@firma.cz, bridge@firma.cz")
    registered = run(["register-webhook", "--url", HOOK_URL], env)
    assert registered.exit_code == 0, registered.output
    assert raynet.technical_contacts == ["it@firma.cz", "ops@firma.cz", "bridge@firma.cz"]
    before = len(raynet.calls("webhook/technicalContact/"))
    run(["register-webhook", "--url", HOOK_URL], env)  # nothing to add: nothing written
    assert len(raynet.calls("webhook/technicalContact/")) == before


def test_register_list_and_delete_the_webhook(raynet: RaynetStandIn, tmp_path: Path) -> None:
    env = env_for(raynet, tmp_path)
    raynet.fail("webhook/", 429, headers={"Retry-After": "0"})
    created = run(["register-webhook", "--url", HOOK_URL], env)
    assert created.exit_code == 0, created.output
    (hook,) = raynet.webhooks.values()
    assert hook["url"] == HOOK_URL
    assert hook["secretToken"] == TOKEN
    assert hook["eventsFilter"] == ["record.created", "record.updated"]
    again = run(["register-webhook", "--url", HOOK_URL], env)
    assert "already registered" in again.output
    assert len(raynet.webhooks) == 1
    listed = run(["register-webhook", "--list"], env)
    assert f"{hook['webhookId']}  {HOOK_URL}" in listed.output
    assert "token matches WEBHOOK_TOKEN" in listed.output
    assert TOKEN not in listed.output
    assert "technical contact: none" in listed.output
    deleted = run(["register-webhook", "--delete", hook["webhookId"]], env)
    assert deleted.exit_code == 0
    assert raynet.webhooks == {}


def test_register_webhook_for_an_instance_and_its_technical_contact(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(
        "[instances.firma-a]\n"
        f'WEBHOOK_TOKEN = "{TOKEN}"\n'
        f'STATE_DB = "{tmp_path / "a.db"}"\n'
        f'EXPORT_TARGET = "{share(tmp_path / "a")}"\n'
    )
    env = {
        **env_for(raynet, tmp_path, RAYNET_TECHNICAL_CONTACT="ops@firma.cz"),
        "WEBHOOK_TOKEN": "",
        "BRIDGE_CONFIG": str(config),
        "PUBLIC_URL": "https://bridge.firma.cz",
    }
    created = run(["register-webhook"], env)
    assert created.exit_code == 0, created.output
    (hook,) = raynet.webhooks.values()
    assert hook["url"] == HOOK_URL + "/firma-a"
    assert raynet.technical_contacts == ["ops@firma.cz"]
    assert "RAYNET e-mails ops@firma.cz" in created.output
    explicit = run(["register-webhook", "--url", HOOK_URL + "/firma-a"], env)
    assert "already registered" in explicit.output
    other = run(["register-webhook", "--url", HOOK_URL + "/firma-b"], env)
    assert other.exit_code == EXIT_CONFIG
    assert "webhook address of instance firma-b" in other.stderr
    plain = run(["register-webhook", "--url", HOOK_URL], env)
    assert plain.exit_code == EXIT_CONFIG
    assert "drop --instance" in plain.stderr or "instance (environment)" in plain.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["register-webhook"],
        ["register-webhook", "--list", "--url", HOOK_URL],
        ["register-webhook", "--url", "https://x/somewhere"],
    ],
)
def test_register_webhook_refuses_unclear_requests(
    raynet: RaynetStandIn, tmp_path: Path, args: list[str]
) -> None:
    result = run(args, env_for(raynet, tmp_path))
    assert result.exit_code == EXIT_CONFIG
    assert raynet.requests == []


def test_backfill_queues_the_won_cases_never_exported(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    now = dt.datetime.now(dt.UTC)
    for case_id in range(1, 1003):  # more than one page of 1,000
        add_won(raynet, won_case, case_id, now - dt.timedelta(hours=1))
    add_won(raynet, won_case, 5000, now - dt.timedelta(days=30))  # before --since
    add_won(raynet, won_case, 5001, now, status="B_ACTIVE")  # not won
    harness = Harness(raynet, tmp_path)
    harness.webhook(1)
    harness.drain(case_id=1)  # exported already
    raynet.fail(r"^businessCase/$", 429, headers={"Retry-After": "0"})
    since = (now - dt.timedelta(days=2)).astimezone().strftime("%Y-%m-%d")
    result = run(["backfill", "--since", since], env_for(raynet, tmp_path))
    assert result.exit_code == 0, result.output
    assert "1002 won case(s) changed since" in result.stdout
    assert "1001 queued for export" in result.stdout
    assert "3 RAYNET API call(s)" in result.stdout  # the 429, then two pages
    assert harness.records.case(5000) is None
    assert harness.records.counts()[CaseState.PENDING] == 1001


def test_reconciliation_finds_lost_webhooks_once_per_interval(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    harness = Harness(raynet, tmp_path)
    harness.webhook(1234)
    harness.drain()  # exported through its webhook
    add_won(raynet, won_case, 7, dt.datetime.fromtimestamp(harness.clock() - 30, dt.UTC))
    client = build_raynet_client(harness.settings)
    first = Reconciler(harness.queue, harness.records, client, 600, harness.clock)
    second = Reconciler(harness.queue, harness.records, client, 600, harness.clock)
    assert first.due()
    assert not second.due()  # one sweep per interval, whichever worker
    sweep = first.sweep()
    assert sweep is not None
    assert (sweep.listed, sweep.queued, sweep.api_calls) == (1, 1, 1)
    assert harness.drain(case_id=7) == "exported"
    harness.clock.advance(601)
    later = Reconciler(harness.queue, harness.records, client, 600, harness.clock)
    assert later.due()
    quiet = later.sweep()
    assert quiet is not None
    assert quiet.queued == 0  # exported meanwhile: nothing to do


def test_reconciliation_keeps_off_the_last_tenth_of_the_daily_limit(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path)
    client = build_raynet_client(harness.settings)
    raynet.remaining = 2000
    client.currencies()  # any call tells the client how many requests are left
    before = len(raynet.requests)
    assert Reconciler(harness.queue, harness.records, client, 600).sweep() is None
    assert len(raynet.requests) == before


def test_worker_runs_the_reconciliation(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    add_won(raynet, won_case, 8, dt.datetime.now(dt.UTC))
    harness = Harness(raynet, tmp_path, RECONCILE_INTERVAL="60")
    assert harness.service.chores.reconciler is not None
    harness.service.chores.run_due()
    assert harness.drain(case_id=8) == "exported"
