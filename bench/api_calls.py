"""RAYNET API calls per 1,000 webhooks of a realistic mix, against the 24,000-a-day limit.

The mix: 80 % events of other entities, 20 % business-case updates, 5 % of which win the
deal; won cases keep being edited after their export. The worker keeps up (it runs after
every webhook, so no coalescing flatters the figure). Baseline, from the same stream: a
bridge that fetches the case for every business-case event and the company for every event
of a won case. Goals: at most 1 call per business-case event on average; 0 for other
entities and for cases already exported.

    python -m bench.api_calls [--events 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import copy
import random
import tempfile
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    rnd = random.Random(arguments.seed)
    template = sample_case()
    with RaynetStandIn() as api, tempfile.TemporaryDirectory() as folder:
        api.add_company(sample_company())
        for number in range(1, CASES + 1):
            case = copy.deepcopy(template)
            case.update(id=number, code=f"OP-26-{number:04d}", status="B_ACTIVE")
            api.add_case(case)
        settings = load_settings(
            {
                **api.environment(),
                "WEBHOOK_TOKEN": "bench-token-0123",
                "STATE_DB": str(Path(folder) / "state.db"),
                "EXPORT_TARGET": str(Path(folder)),
            }
        )
        app = create_app(settings)
        worker = app.extensions[EXTENSION][""].worker
        records = app.extensions[EXTENSION][""].state.records
        client = app.test_client()
        won: set[int] = set()
        case_events = other_events = won_case_events = 0
        calls_after_export = calls_for_others = 0
        for number in range(arguments.events):
            if rnd.random() < 0.8:
                other_events += 1
                entity, case_id = rnd.choice(OTHER_ENTITIES), rnd.randint(1, 10**6)
            else:
                case_events += 1
                entity = "BusinessCase"
                case_id = min(CASES, int(rnd.paretovariate(1.2)))  # a few cases, edited often
                if case_id not in won and rnd.random() < 0.05:
                    won.add(case_id)
                    api.cases[case_id]["status"] = "E_WIN"
                won_case_events += case_id in won
            record = records.case(case_id) if entity == "BusinessCase" else None
            exported_before = record is not None and record.state == "exported"
            before = len(api.requests)
            client.post(
                "/webhooks/raynet",
                headers={"X-RAYNETCRM-Token": "bench-token-0123"},
                json={
                    "eventId": f"event-{number}",
                    "type": "record.updated",
                    "data": {"entityName": entity, "entityId": case_id},
                },
            )
            while worker.run_once():
                pass
            spent = len(api.requests) - before
            if entity != "BusinessCase":
                calls_for_others += spent
            elif exported_before:
                calls_after_export += spent
        calls = len(api.requests)
        by_kind = {
            kind: len(api.calls(kind)) for kind in ("businessCase/", "company/", "currency/")
        }
    naive = case_events + won_case_events
    rows = [
        [
            "bridge",
            calls,
            round(calls / max(case_events, 1), 3),
            by_kind["businessCase/"],
            by_kind["company/"],
            by_kind["currency/"],
            round(calls * EVENTS_PER_DAY / arguments.events),
        ],
        [
            "naive baseline",
            naive,
            round(naive / max(case_events, 1), 3),
            case_events,
            won_case_events,
            0,
            round(naive * EVENTS_PER_DAY / arguments.events),
        ],
    ]
    publish(
        "api_calls",
        [
            "design",
            "API calls",
            "per case event",
            "case reads",
            "company reads",
            "currency lists",
            "a day at 1 event/s",
        ],
        rows,
        {
            "webhooks": f"{arguments.events}: {other_events} other entities, {case_events} "
            f"business-case events, {len(won)} cases won, {won_case_events} events "
            "of won cases",
            "calls for other entities": calls_for_others,
            "calls for cases already exported": calls_after_export,
            "ratio to baseline": round(calls / max(naive, 1), 3),
            "daily limit": DAILY_LIMIT,
            "goal": "<= 1 call per business-case event; 0 for other entities and exported cases",
        },
    )


if __name__ == "__main__":
    main()
