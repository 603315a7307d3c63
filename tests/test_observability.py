"""``/metrics`` in Prometheus format, and JSON log lines that carry context, never secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Harness
from tests.support import TOKEN, AwsQueue, webhook_body
from webhook.observability import FiguresCache, StateFigures, configure_logging
from webhook.raynet.standin import RaynetStandIn
from webhook.web import create_app

URL = "/webhooks/raynet"


def scrape(client: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_webhooks_exports_and_show_the_queue(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN)
    client = create_app(harness.settings).test_client()
    before = scrape(client)
    headers = {"X-RAYNETCRM-Token": TOKEN}
    body = webhook_body()
    client.post(URL, json=body, headers=headers)
    client.post(URL, json=body, headers=headers)
    client.post(URL, json=webhook_body(entity="Company"), headers=headers)
    client.post(URL, json=webhook_body(), headers={"X-RAYNETCRM-Token": "nope"})
    client.post(URL, data=b"{", headers=headers)
    queued = scrape(client)
    here = (("instance", ""),)
    assert queued[("bridge_queue_depth", here)] == 1
    assert queued[("bridge_cases", (*here, ("state", "pending")))] == 1
    assert queued[("bridge_sync_enabled", here)] == 1

    def delta(
        after: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
    ) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    for outcome, count in (
        ("accepted", 1),
        ("duplicate", 1),
        ("ignored", 1),
        ("unauthorized", 1),
        ("unreadable", 1),  # authenticated, not JSON: 200, kept for a look
    ):
        assert delta(queued, "bridge_webhooks_total", instance="", outcome=outcome) == count
    assert delta(queued, "bridge_webhook_seconds_count") == 5
    harness.drain()
    done = scrape(client)
    assert delta(done, "bridge_exports_total", instance="") == 1
    assert (
        delta(done, "bridge_raynet_requests_total", status="200") == 3
    )  # case, company, currencies
    assert done[("bridge_raynet_rate_limit_remaining", ())] > 0
    assert done[("bridge_queue_depth", here)] == 0
    assert done[("bridge_cases", (*here, ("state", "exported")))] == 1


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    output = io.StringIO()
    configure_logging("DEBUG", json_lines=True, stream=output)  # each webhook is a debug line
    yield output
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_lines_are_json_with_context_and_without_secrets(
    raynet: RaynetStandIn, tmp_path: Path, json_logs: io.StringIO
) -> None:
    wrong = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, RAYNET_API_KEY="secret-key-42")
    client = create_app(wrong.settings).test_client()
    client.post(URL, json=webhook_body(event_id="evt-1"), headers={"X-RAYNETCRM-Token": TOKEN})
    wrong.drain()
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    assert lines, "nothing was logged"
    received = next(line for line in lines if line["message"] == "webhook accepted")
    assert (received["event_id"], received["case_id"]) == ("evt-1", 1234)
    refused = next(line for line in lines if line["level"] == "warning")
    assert refused["case_id"] == 1234
    assert "RAYNET_API_KEY" in refused["message"]
    output = json.dumps(lines)
    for secret in ("secret-key-42", TOKEN, raynet.api_key):
        assert secret not in output


@pytest.mark.aws
def test_in_the_sqs_mode_a_scrape_reads_the_table_at_most_once_a_minute(
    raynet: RaynetStandIn, tmp_path: Path, aws: AwsQueue
) -> None:
    """Each read of the case figures scans the DynamoDB table: a scrape every 15 s would
    repeat it 5,760 times a day. The figures are kept a minute; whether the state takes
    writes is still asked at every scrape."""
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, **aws.env)
    client = create_app(harness.settings).test_client()

    def scans() -> float:
        labels = {"service": "DynamoDB", "operation": "Scan"}
        return REGISTRY.get_sample_value("bridge_aws_requests_total", labels) or 0.0

    first = scrape(client)
    assert first[("bridge_state_available", (("instance", ""),))] == 1
    read = scans()
    assert read > 0
    again = scrape(client)
    assert scans() == read
    assert again[("bridge_state_available", (("instance", ""),))] == 1


def test_kept_figures_are_read_again_after_their_age_and_a_failure_is_never_kept(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path)
    now = [100.0]
    kept = FiguresCache(clock=lambda: now[0])

    def figures() -> StateFigures | None:
        return kept.figures("", harness.queue, harness.records, 60.0)

    before = figures()
    assert before is not None
    assert before.due == 0
    harness.webhook()
    assert figures() == before  # within the minute
    kept.forget("")  # the state refused a write meanwhile: read anew once it takes one
    after = figures()
    assert after is not None
    assert after.due == 1
    harness.webhook(77)
    now[0] += 60
    later = figures()
    assert later is not None
    assert later.due == 2
    harness.settings.state_db.unlink()
    now[0] += 60
    assert figures() is None  # said at once, and not kept
