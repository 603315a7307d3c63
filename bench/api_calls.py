"""RAYNET API calls per 1,000 webhooks of a realistic mix, against the 24,000-a-day limit.

The mix: 80 % events of other entities, 20 % business-case updates, 5 % of which win the
deal; won cases keep being edited after their export. The worker keeps up (it runs after
every webhook, so no coalescing flatters the figure). The same stream runs twice: without
write-back, and with it (the default): then every file is followed by its external id and
post in RAYNET, and the webhooks RAYNET sends for those writes are delivered back to the
bridge, as RAYNET would. Baseline, from the same stream: a bridge that fetches the case for
every business-case event and the company for every event of a won case.

Goals: at most 1 read per business-case event on average (0.45 with write-back, whose own
webhooks must cost nothing), exactly 2 writes per delivered file, 0 calls for other
entities and for cases already exported.

    python -m bench.api_calls [--events 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import copy
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from bench.report import publish
from webhook.ops.demo import sample_case, sample_company
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import load_settings
from webhook.web import create_app
from webhook.web.registry import EXTENSION

OTHER_ENTITIES = ("Company", "Person", "Task", "Meeting", "Offer", "Email", "PhoneCall")
CASES = 60
DAILY_LIMIT = 24_000
EVENTS_PER_DAY = 86_400  # RAYNET sends at most one event a second per webhook
TOKEN = "bench-token-0123"


@dataclass
class Run:
    """What one pass over the stream cost."""

    case_events: int = 0
    other_events: int = 0
    won: int = 0
    won_case_events: int = 0
    reads: int = 0
    writes: int = 0
    files: int = 0
    for_others: int = 0
    after_export: int = 0
    own_webhooks: int = 0
    for_own_webhooks: int = 0
    case_reads: int = 0
    company_reads: int = 0
    currency_lists: int = 0


def run(events: int, seed: int, write_back: bool) -> Run:
    rnd = random.Random(seed)
    template = sample_case()
    figures = Run()
    with RaynetStandIn() as api, tempfile.TemporaryDirectory() as folder:
        api.add_company(sample_company())
        for number in range(1, CASES + 1):
            case = copy.deepcopy(template)
            case.update(id=number, code=f"OP-26-{number:04d}", status="B_ACTIVE")
            api.add_case(case)
        settings = load_settings(
            {
                **api.environment(),
                "WEBHOOK_TOKEN": TOKEN,
                "STATE_DB": str(Path(folder) / "state.db"),
                "EXPORT_TARGET": str(Path(folder)),
                "RAYNET_WRITE_BACK": "1" if write_back else "0",
            }
        )
        app = create_app(settings)
        served = app.extensions[EXTENSION][""]
        worker, records, client = served.worker, served.state.records, app.test_client()
        won: set[int] = set()
        for number in range(events):
            if rnd.random() < 0.8:
                figures.other_events += 1
                entity, case_id = rnd.choice(OTHER_ENTITIES), rnd.randint(1, 10**6)
            else:
                figures.case_events += 1
                entity = "BusinessCase"
                case_id = min(CASES, int(rnd.paretovariate(1.2)))  # a few cases, edited often
                if case_id not in won and rnd.random() < 0.05:
                    won.add(case_id)
                    api.cases[case_id]["status"] = "E_WIN"
                figures.won_case_events += case_id in won
            record = records.case(case_id) if entity == "BusinessCase" else None
            exported_before = record is not None and record.state == "exported"
            before = len(api.requests)
            extids = api.cases[case_id].get("extIds") if entity == "BusinessCase" else None
            post(client, f"event-{number}", entity, case_id, extids)
            while worker.run_once():
                pass
            spent = len(api.requests) - before
            if entity != "BusinessCase":
                figures.for_others += spent
            elif exported_before:
                figures.after_export += spent
            worker.run_due_follow_ups()
            figures.own_webhooks += deliver_own_webhooks(api, client, worker, figures)
        figures.won = len(won)
        figures.files = sum(1 for _ in Path(folder).glob("*.xml"))
        for call in api.requests:
            if call.method == "GET":
                figures.reads += 1
            else:
                figures.writes += 1
        figures.case_reads = sum(
            1 for c in api.calls("businessCase/") if c.method == "GET" and c.path.count("/") == 2
        )
        figures.company_reads = len(api.calls("company/"))
        figures.currency_lists = len(api.calls("currency/"))
    return figures


def post(
    client: FlaskClient, event_id: str, entity: str, case_id: int, extids: list[str] | None
) -> None:
    client.post(
        "/webhooks/raynet",
        headers={"X-RAYNETCRM-Token": TOKEN},
        json={
            "eventId": event_id,
            "type": "record.updated",
            "data": {"entityName": entity, "entityId": case_id, "extIds": extids},
        },
    )


def deliver_own_webhooks(api: RaynetStandIn, client: FlaskClient, worker: Any, figures: Run) -> int:
    """RAYNET's webhooks for our own writes, delivered; what they cost is counted."""
    sent, api.sent_webhooks = list(api.sent_webhooks), []
    before = len(api.requests)
    for body in sent:
        client.post("/webhooks/raynet", headers={"X-RAYNETCRM-Token": TOKEN}, json=body)
        while worker.run_once():
            pass
    figures.for_own_webhooks += len(api.requests) - before
    return len(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    without = run(arguments.events, arguments.seed, write_back=False)
    with_write_back = run(arguments.events, arguments.seed, write_back=True)
    assert (without.case_events, without.files) == (
        with_write_back.case_events,
        with_write_back.files,
    )
    naive = without.case_events + without.won_case_events
    rows: list[list[object]] = []
    for design, figures in (("write-back off", without), ("write-back on", with_write_back)):
        calls = figures.reads + figures.writes
        rows.append(
            [
                design,
                figures.reads,
                round(figures.reads / max(figures.case_events, 1), 3),
                figures.writes,
                round(figures.writes / max(figures.files, 1), 2),
                figures.for_own_webhooks,
                figures.case_reads,
                figures.company_reads,
                figures.currency_lists,
                round(calls * EVENTS_PER_DAY / arguments.events),
            ]
        )
    rows.append(
        [
            "naive baseline",
            naive,
            round(naive / max(without.case_events, 1), 3),
            0,
            0,
            0,
            without.case_events,
            without.won_case_events,
            0,
            round(naive * EVENTS_PER_DAY / arguments.events),
        ]
    )
    publish(
        "api_calls",
        [
            "design",
            "reads",
            "reads per case event",
            "writes",
            "writes per file",
            "calls for own webhooks",
            "case reads",
            "company reads",
            "currency lists",
            "a day at 1 event/s",
        ],
        rows,
        {
            "webhooks": f"{arguments.events}: {without.other_events} other entities, "
            f"{without.case_events} business-case events, {without.won} cases won, "
            f"{without.won_case_events} events of won cases, {without.files} files",
            "RAYNET's webhooks for our writes": with_write_back.own_webhooks,
            "calls for other entities": without.for_others + with_write_back.for_others,
            "calls for cases already exported": without.after_export + with_write_back.after_export,
            "ratio to baseline (write-back off)": round(without.reads / max(naive, 1), 3),
            "daily limit": DAILY_LIMIT,
            "repeats": "none needed: the stream is seeded (--seed), so every run counts the same",
            "goal": "<= 0.45 reads per business-case event with write-back (<= 1 without), "
            "2 writes per file, 0 calls for own webhooks, other entities, exported cases",
        },
    )


if __name__ == "__main__":
    main()
