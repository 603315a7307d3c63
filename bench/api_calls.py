"""RAYNET API calls per 1,000 webhooks of a realistic mix, against the 24,000-a-day limit.

The mix: 80 % events of other entities, 20 % business-case updates, 5 % of which win the
deal; won cases keep being edited after their export. The worker keeps up (it runs after
every webhook, so no coalescing flatters the figure). The same stream runs twice: without
write-back, and with it (the default): then every file is followed by its external id and
post in RAYNET, and the webhooks RAYNET sends for those writes are delivered back to the
bridge, as RAYNET would. Baseline, from the same stream: a bridge that fetches the case for
every business-case event and the company for every event of a won case.

The cases are as RAYNET's API documentation shows them: an item from the price list names
its product without the product's code, so the exporter reads it (``GET product/{id}/``,
for Money S3's ``Katalog``); each case has one or two such items from a catalogue of
``--products`` products, and one item without a price-list item. The accountant's mapping
takes ``Zakazka`` from a custom field by the name users see (``MONEY_S3_JOB={custom:...}``),
so the exporter reads the custom-field configuration (``GET customField/config/``). Every
RAYNET request is counted by endpoint, per exported case and per business-case event; a
product read once per process (and per cache period), not once per case, is what a cache
gives: the benchmark says whether it does.

Goals: at most 1 read per business-case event on average (0.45 with write-back, whose own
webhooks must cost nothing), exactly 2 writes per delivered file, 0 calls for other
entities and for cases already exported.

    python -m bench.api_calls [--events 1000] [--seed 7] [--products 12]
"""

from __future__ import annotations

import argparse
import copy
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from bench.aws_trace import endpoint
from bench.report import publish
from webhook.ops.demo import sample_case, sample_company
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import load_settings
from webhook.web import create_app
from webhook.web.registry import EXTENSION
from webhook.wiring import build_instance, build_worker
from webhook.worker.loop import InstanceWorker

OTHER_ENTITIES = ("Company", "Person", "Task", "Meeting", "Offer", "Email", "PhoneCall")
CASES = 60
DAILY_LIMIT = 24_000
EVENTS_PER_DAY = 86_400  # RAYNET sends at most one event a second per webhook
TOKEN = "bench-token-0123"
JOB_FIELD = {"label": "Číslo zakázky", "name": "Cislo_zaka_7c1d2", "dataType": "STRING"}
FIRST_PRODUCT = 500
CHANGE_CHECK_BUDGET = 0.1  # extra reads per business-case event at one event a second
SLOWER_PACE = 10.0  # seconds per webhook, to show how the change checks' share grows


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
    by_endpoint: dict[str, int] = field(default_factory=dict)  # "GET product/{id}/": requests
    products_read: int = 0  # distinct products
    product_items: int = 0  # items naming a product without its code, in the files
    won_event_products: int = 0  # the same, summed over every event of a won case


def product_items(case: dict[str, Any]) -> int:
    return sum(1 for item in case["items"] if item.get("priceListItem"))


def product_case(template: dict[str, Any], number: int, rnd: random.Random, products: int) -> Any:
    """Case ``number`` as RAYNET's documentation shows one: its price-list items name their
    product without its code. The template's product item (2 pieces) becomes one item of
    2 or two of 1 (the totals stay), each naming a product of the catalogue."""
    case = copy.deepcopy(template)
    case.update(id=number, code=f"OP-26-{number:04d}", status="B_ACTIVE")
    case["customFields"] = {JOB_FIELD["name"]: f"Z-{number:04d}"}
    item = next(i for i in case["items"] if i.get("priceListItem"))
    chosen = rnd.sample(range(FIRST_PRODUCT, FIRST_PRODUCT + products), 2)
    split = item["count"] == 2 and rnd.random() < 0.5
    items = [copy.deepcopy(item) for _ in range(2 if split else 1)]
    for copied, product in zip(items, chosen, strict=False):
        copied["priceListItem"]["product"] = {"id": product, "name": f"Výrobek {product}"}
        if split:
            copied["count"] = 1
    index = case["items"].index(item)
    case["items"][index : index + 1] = items
    return case


@dataclass
class StreamClock:
    """The bridge's clock during a run: ``pace`` seconds pass with each webhook, so that
    ``CHANGE_CHECK_EVERY`` spaces the change checks as it would at that pace."""

    pace: float
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def run(
    events: int,
    seed: int,
    write_back: bool,
    products: int = 12,
    *,
    pace: float = 1.0,
    change_checks: bool = True,
) -> Run:
    rnd = random.Random(seed)
    clock = StreamClock(pace)
    template = sample_case()
    figures = Run()
    with RaynetStandIn() as api, tempfile.TemporaryDirectory() as folder:
        api.add_company(sample_company())
        api.custom_fields = [JOB_FIELD]
        for product in range(FIRST_PRODUCT, FIRST_PRODUCT + products):
            api.add_product({"id": product, "code": f"V-{product}", "name": f"Výrobek {product}"})
        shapes = random.Random(seed + 1)  # the cases' items, apart from the stream
        for number in range(1, CASES + 1):
            api.add_case(product_case(template, number, shapes, products))
        settings = load_settings(
            {
                **api.environment(),
                "WEBHOOK_TOKEN": TOKEN,
                "STATE_DB": str(Path(folder) / "state.db"),
                "EXPORT_TARGET": str(Path(folder)),
                "RAYNET_WRITE_BACK": "1" if write_back else "0",
                "MONEY_S3_JOB": "{custom:" + JOB_FIELD["label"] + "}",
                "CHANGE_CHECK_EVERY": "600" if change_checks else "0",
            }
        )
        app = create_app(settings)
        served = app.extensions[EXTENSION][""] = build_instance(settings, clock)
        service = build_worker(settings, served.state, clock=clock)  # as the worker builds it
        worker, records, client = service.worker, served.state.records, app.test_client()
        won: set[int] = set()
        for number in range(events):
            clock.now += clock.pace
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
                if case_id in won:
                    figures.won_case_events += 1
                    figures.won_event_products += product_items(api.cases[case_id])
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
            run_follow_ups(service)
            figures.own_webhooks += deliver_own_webhooks(api, client, worker, figures)
        figures.won = len(won)
        figures.files = sum(1 for _ in Path(folder).glob("*.xml"))
        tally(api, figures, won)
    return figures


def tally(api: RaynetStandIn, figures: Run, won: set[int]) -> None:
    """What the stand-in received, by kind and by endpoint."""
    for call in api.requests:
        if call.method == "GET":
            figures.reads += 1
        else:
            figures.writes += 1
        name = f"{call.method} {endpoint(call.path)}"
        figures.by_endpoint[name] = figures.by_endpoint.get(name, 0) + 1
    figures.case_reads = sum(
        1 for c in api.calls("businessCase/") if c.method == "GET" and c.path.count("/") == 2
    )
    figures.company_reads = len(api.calls("company/"))
    figures.currency_lists = len(api.calls("currency/"))
    figures.products_read = len({c.path for c in api.calls("product/") if c.method == "GET"})
    figures.product_items = sum(product_items(api.cases[case_id]) for case_id in won)


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


def run_follow_ups(service: InstanceWorker) -> None:
    """Every due follow-up (write-back), as the worker process's rounds would."""
    follow_ups = service.follow_ups
    while follow_ups.run_one(list(follow_ups.handlers)):
        pass


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


def cache_check(cases: int, products: int, seed: int) -> dict[str, int]:
    """``cases`` won cases exported one after the other by one worker (one process, well
    within an hour): how often the exporter read each of the lists it can keep."""
    shapes = random.Random(seed)
    with RaynetStandIn() as api, tempfile.TemporaryDirectory() as folder:
        api.add_company(sample_company())
        api.custom_fields = [JOB_FIELD]
        for product in range(FIRST_PRODUCT, FIRST_PRODUCT + products):
            api.add_product({"id": product, "code": f"V-{product}", "name": f"Výrobek {product}"})
        for number in range(1, cases + 1):
            case = product_case(sample_case(), number, shapes, products)
            case["status"] = "E_WIN"
            api.add_case(case)
        settings = load_settings(
            {
                **api.environment(),
                "WEBHOOK_TOKEN": TOKEN,
                "STATE_DB": str(Path(folder) / "state.db"),
                "EXPORT_TARGET": str(Path(folder)),
                "RAYNET_WRITE_BACK": "0",
                "MONEY_S3_JOB": "{custom:" + JOB_FIELD["label"] + "}",
            }
        )
        app = create_app(settings)
        worker = build_worker(settings, app.extensions[EXTENSION][""].state).worker
        client = app.test_client()
        for number in range(1, cases + 1):
            post(client, f"cache-{number}", "BusinessCase", number, None)
            while worker.run_once():
                pass
        product_reads = [c.path for c in api.calls("product/") if c.method == "GET"]
        return {
            "files": sum(1 for _ in Path(folder).glob("*.xml")),
            "items naming a product without its code": sum(
                product_items(api.cases[n]) for n in range(1, cases + 1)
            ),
            "distinct products named": len(
                {
                    item["priceListItem"]["product"]["id"]
                    for n in range(1, cases + 1)
                    for item in api.cases[n]["items"]
                    if item.get("priceListItem")
                }
            ),
            "product reads": len(product_reads),
            "distinct products read": len(set(product_reads)),
            "custom-field configuration reads": len(api.calls("customField/config/")),
            "currency list reads": len(api.calls("currency/")),
        }


def verdict(without: Run, with_write_back: Run, checks_off: Run, *, cached: bool) -> str:
    """Each goal, met or not."""
    per_event = with_write_back.reads / max(with_write_back.case_events, 1)
    extra = change_check_reads(with_write_back, checks_off)
    goals = [
        (f"{per_event:.3f} reads per case event with write-back", per_event <= 1),
        (
            f"{with_write_back.reads - without.reads} reads added by write-back",
            with_write_back.reads <= without.reads,
        ),
        (f"{extra:.3f} reads per case event for change checks", extra <= CHANGE_CHECK_BUDGET),
        (
            f"{with_write_back.writes / max(with_write_back.files, 1):.2f} writes per file",
            with_write_back.writes == 2 * with_write_back.files,
        ),
        (
            "0 calls for own webhooks, other entities, exported cases",
            with_write_back.for_own_webhooks
            + without.for_others
            + with_write_back.for_others
            + without.after_export
            + with_write_back.after_export
            == 0,
        ),
        ("products cached per process", cached),
    ]
    return "; ".join(f"{text}: {'met' if ok else 'NOT met'}" for text, ok in goals)


def change_check_reads(checked: Run, unchecked: Run) -> float:
    """The reads change checks added, per business-case event: the same stream, with
    ``CHANGE_CHECK_EVERY`` and without."""
    return (checked.reads - unchecked.reads) / max(checked.case_events, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--products", type=int, default=12, help="the catalogue's size")
    parser.add_argument(
        "--cache-cases", type=int, default=40, help="won cases exported for the cache check"
    )
    arguments = parser.parse_args()
    without = run(arguments.events, arguments.seed, write_back=False, products=arguments.products)
    with_write_back = run(
        arguments.events, arguments.seed, write_back=True, products=arguments.products
    )
    checks_off = run(
        arguments.events, arguments.seed, True, arguments.products, change_checks=False
    )
    assert (without.case_events, without.files) == (
        with_write_back.case_events,
        with_write_back.files,
    )
    change_checks_table(arguments, with_write_back, checks_off)
    # A naive bridge reads, for every event of a won case, the company, each product and
    # the custom-field configuration too.
    naive_won = without.won_case_events * 2 + without.won_event_products
    naive = without.case_events + naive_won
    rows: list[list[object]] = []
    for design, figures in (("write-back off", without), ("write-back on", with_write_back)):
        calls = figures.reads + figures.writes
        rows.append(
            [
                design,
                figures.reads,
                f"{figures.reads / max(figures.case_events, 1):.3f}",
                f"{calls / max(figures.case_events, 1):.3f}",
                f"{calls / max(figures.files, 1):.2f}",
                figures.writes,
                f"{figures.writes / max(figures.files, 1):.2f}",
                figures.for_own_webhooks,
                figures.case_reads,
                figures.company_reads,
                figures.by_endpoint.get("GET product/{id}/", 0),
                figures.by_endpoint.get("GET customField/config/", 0),
                figures.currency_lists,
                round(calls * EVENTS_PER_DAY / arguments.events),
            ]
        )
    rows.append(
        [
            "naive baseline",
            naive,
            f"{naive / max(without.case_events, 1):.3f}",
            f"{naive / max(without.case_events, 1):.3f}",
            f"{naive / max(without.files, 1):.2f}",
            0,
            "0",
            0,
            without.case_events,
            without.won_case_events,
            without.won_event_products,
            without.won_case_events,
            0,
            round(naive * EVENTS_PER_DAY / arguments.events),
        ]
    )
    cache = cache_check(arguments.cache_cases, arguments.products, arguments.seed)
    cached = cache["product reads"] <= cache["distinct products named"]
    publish(
        "api_calls",
        [
            "design",
            "reads",
            "reads per case event",
            "requests per case event",
            "requests per file",
            "writes",
            "writes per file",
            "calls for own webhooks",
            "case reads",
            "company reads",
            "product reads",
            "custom-field config reads",
            "currency lists",
            "a day at 1 event/s",
        ],
        rows,
        {
            "webhooks": f"{arguments.events}: {without.other_events} other entities, "
            f"{without.case_events} business-case events, {without.won} cases won, "
            f"{without.won_case_events} events of won cases, {without.files} files "
            f"with {without.product_items} items naming a product without its code "
            f"(catalogue of {arguments.products})",
            "RAYNET's webhooks for our writes": with_write_back.own_webhooks,
            "calls for other entities": without.for_others + with_write_back.for_others,
            "calls for cases already exported": without.after_export + with_write_back.after_export,
            "ratio to baseline (write-back off)": round(without.reads / max(naive, 1), 3),
            "daily limit": DAILY_LIMIT,
            "repeats": "none needed: the stream is seeded (--seed), so every run counts the same",
            "goal": "<= 1 read per business-case event, none added by write-back, "
            f"<= {CHANGE_CHECK_BUDGET} for change checks at one event a second, "
            "2 writes per file, 0 calls for own webhooks, other entities, exported cases; "
            "a product read at most once per process and cache period",
            "met": verdict(without, with_write_back, checks_off, cached=cached),
        },
    )
    endpoints = sorted(set(without.by_endpoint) | set(with_write_back.by_endpoint))
    publish(
        "api_calls_endpoints",
        ["RAYNET endpoint", "write-back off", "per file", "write-back on", "per file"],
        [
            [
                name,
                without.by_endpoint.get(name, 0),
                f"{without.by_endpoint.get(name, 0) / max(without.files, 1):.2f}",
                with_write_back.by_endpoint.get(name, 0),
                f"{with_write_back.by_endpoint.get(name, 0) / max(with_write_back.files, 1):.2f}",
            ]
            for name in endpoints
        ],
        {"stream": f"the same {arguments.events} webhooks, {without.files} files"},
    )
    publish(
        "api_calls_cache",
        ["one worker process, won cases exported in a row", "count"],
        [[key, value] for key, value in cache.items()],
        {
            "products cached per process": f"{'yes' if cached else 'NO'}: "
            f"{cache['product reads']} product reads for "
            f"{cache['distinct products named']} distinct products in {cache['files']} files "
            f"({cache['product reads'] / max(cache['files'], 1):.2f} per file)",
            "custom-field configuration": f"{cache['custom-field configuration reads']} read(s) "
            f"for {cache['files']} files (kept an hour)",
        },
    )


def change_checks_table(arguments: argparse.Namespace, checked: Run, unchecked: Run) -> None:
    """What change checks cost, at one webhook a second (RAYNET's most, where the day's
    quota is at stake) and at a slower pace, where they coalesce fewer events."""
    slower = [
        run(arguments.events, arguments.seed, True, arguments.products, pace=SLOWER_PACE),
        run(
            arguments.events,
            arguments.seed,
            True,
            arguments.products,
            pace=SLOWER_PACE,
            change_checks=False,
        ),
    ]
    rows = []
    for pace, (on, off) in ((1.0, (checked, unchecked)), (SLOWER_PACE, tuple(slower))):
        added = on.reads - off.reads
        rows.append(
            [
                f"{pace:g} s",
                on.reads,
                off.reads,
                added,
                f"{change_check_reads(on, off):.3f}",
                round((on.reads + on.writes) * EVENTS_PER_DAY / pace / arguments.events),
            ]
        )
    publish(
        "api_calls_change_checks",
        [
            "seconds per webhook",
            "reads, CHANGE_CHECK_EVERY=600",
            "reads, CHANGE_CHECK_EVERY=0",
            "added by change checks",
            "added per case event",
            "requests a day at this pace",
        ],
        rows,
        {
            "stream": f"the same {arguments.events} webhooks with write-back, the bridge's "
            "clock advanced by the pace at each webhook",
            "goal": f"<= {CHANGE_CHECK_BUDGET} added per case event at 1 s (issue J); a slower "
            "pace coalesces fewer edits into one check, while the day's requests fall",
        },
    )


if __name__ == "__main__":
    main()
