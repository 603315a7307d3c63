"""Write-back to RAYNET through the stand-in: the salesperson sees the export in the case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.harness import Harness
from tests.support import TOKEN
from webhook.raynet.standin import RaynetStandIn
from webhook.web import create_app


def writes(raynet: RaynetStandIn) -> list[tuple[str, str]]:
    return [
        (call.method, call.path)
        for call in raynet.calls("businessCase/")
        if call.method in ("PUT", "POST")
    ]


def follow_up_states(harness: Harness, case_id: int = 1234) -> dict[tuple[str, int], str]:
    assert harness.state.outbox is not None
    return {
        (item.kind.value, item.generation): item.state
        for item in harness.state.outbox.of_case(case_id)
    }


def test_each_delivered_file_gets_one_external_id_and_one_post(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    assert harness.drain() == "exported"
    assert writes(raynet) == []  # the file first; RAYNET is written to after
    harness.follow_ups.run_due()
    assert sorted(writes(raynet)) == [
        ("PUT", "businessCase/1234/extId/"),
        ("PUT", "businessCase/1234/post/"),
    ]
    assert raynet.cases[1234]["extIds"] == ["moneys3:OP-24-057.xml"]
    (post,) = raynet.posts[1234]
    assert post["comment"].startswith(
        "Objednávka pro Money S3 je připravena: soubor OP-24-057.xml (doklad OP-24-057), "
        f"uložený v {harness.exports / 'OP-24-057.xml'}, "
    )
    assert "Objednávky přijaté → XML přenosy → Import z XML" in post["comment"]
    harness.follow_ups.run_due()
    assert len(writes(raynet)) == 2  # done once
    assert follow_up_states(harness) == {
        ("raynet_ext_id", 1): "done",
        ("raynet_post", 1): "done",
    }


def test_a_reexport_posts_again_and_replaces_its_external_id(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    """A record holds at most 10 external ids: the bridge keeps one, its latest file's, and
    never touches another integration's."""
    raynet.cases[1234]["extIds"] = ["erp:4711"]
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    assert raynet.cases[1234]["extIds"] == ["erp:4711", "moneys3:OP-24-057.xml"]
    harness.queue.request_reexport(1234)
    harness.drain()
    harness.follow_ups.run_due()
    assert raynet.cases[1234]["extIds"] == ["erp:4711", "moneys3:OP-24-057+2.xml"]
    deleted = [r for r in raynet.requests if r.method == "DELETE"]
    assert [r.path for r in deleted] == ["businessCase/1234/extId/moneys3%3AOP-24-057.xml"]
    first, second = (post["comment"] for post in raynet.posts[1234])
    assert "OP-24-057.xml" in first
    assert second.startswith("Znovu exportováno do Money S3 (soubor č. 2): OP-24-057+2.xml")
    assert "\nProč: byl vyžádán znovu (v přehledu, tlačítkem v RAYNETu nebo příkazem" in second


def test_the_post_names_the_share_as_the_accountant_sees_it(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path, EXPORT_LOCATION_LABEL="\\\\ucetni\\raynet")
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    (post,) = raynet.posts[1234]
    assert "uložený v \\\\ucetni\\raynet, " in post["comment"]
    assert str(harness.exports) not in post["comment"]  # the server's own path is not shown


def test_nothing_is_written_back_when_nothing_was_delivered(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    harness = Harness(raynet, tmp_path)
    raynet.add_case({**won_case, "status": "B_ACTIVE"})
    harness.webhook()
    assert harness.drain() == "skipped"
    raynet.fail("company/", 503, times=100)
    raynet.add_case(won_case)
    harness.webhook()
    assert harness.drain() == "failed"
    harness.follow_ups.run_due()
    assert writes(raynet) == []
    assert follow_up_states(harness) == {}


@pytest.mark.parametrize(
    "answer_lost",
    [False, True],
    ids=["refused, then retried", "made, answer lost: looked for before the retry"],
)
def test_a_failed_write_back_is_retried_without_a_second_file_or_post(
    raynet: RaynetStandIn, tmp_path: Path, answer_lost: bool
) -> None:
    harness = Harness(raynet, tmp_path)
    raynet.fail(r"businessCase/1234/(extId|post)/", 502, times=2, after_doing_it=answer_lost)
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    assert follow_up_states(harness) == {
        ("raynet_ext_id", 1): "pending",
        ("raynet_post", 1): "pending",
    }
    harness.clock.advance(3600)
    harness.follow_ups.run_due()
    assert follow_up_states(harness) == {
        ("raynet_ext_id", 1): "done",
        ("raynet_post", 1): "done",
    }
    assert harness.files() == ["OP-24-057.xml"]
    assert len(raynet.posts[1234]) == 1
    assert raynet.cases[1234]["extIds"] == ["moneys3:OP-24-057.xml"]
    looked_for = [c for c in raynet.calls("businessCase/1234/post/") if c.method == "GET"]
    assert len(looked_for) == 1  # the second attempt looks before it posts


def test_our_write_backs_webhooks_cost_no_api_request(
    raynet: RaynetStandIn, tmp_path: Path, state_mode: dict[str, str]
) -> None:
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, **state_mode)
    client = create_app(harness.settings).test_client()
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    before = len(raynet.calls())
    for body in raynet.sent_webhooks:  # what RAYNET posts after our two writes
        assert post_webhook(client, body).json == {
            "status": "already_exported",
            "eventId": body["eventId"],
        }
    assert harness.worker.run_once() is False
    assert len(raynet.calls()) == before


def test_a_case_with_our_external_id_costs_nothing_with_a_new_state_file(
    raynet: RaynetStandIn, tmp_path: Path, state_mode: dict[str, str]
) -> None:
    """The state was lost; RAYNET's webhook still says the case has its file."""
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, **state_mode)
    client = create_app(harness.settings).test_client()
    raynet.cases[1234]["extIds"] = ["erp:77", "moneys3:OP-24-057.xml", "moneys3:OP-24-057+2.xml"]
    body = {
        "eventId": "a" * 32,
        "type": "record.updated",
        "data": {
            "entityName": "BusinessCase",
            "entityId": 1234,
            "extIds": raynet.cases[1234]["extIds"],
        },
    }
    assert post_webhook(client, body).json == {"status": "already_exported", "eventId": "a" * 32}
    assert harness.worker.run_once() is False
    assert raynet.calls() == []
    record = harness.records.case(1234)
    assert record is not None
    assert (record.state, record.file_name, record.exports_done) == (
        "exported",
        "OP-24-057+2.xml",
        2,
    )
    harness.queue.request_reexport(1234)  # and the next file is the third
    harness.drain()
    assert harness.files() == ["OP-24-057+3.xml"]


def test_a_lost_state_file_brings_no_second_post_for_the_same_file(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    """The state file and its lock were deleted (started afresh); a webhook without extIds
    (an older event) makes the worker find the file already there and RAYNET already
    carrying it: no file is written, so no "order ready" post goes out again."""
    first = Harness(raynet, tmp_path)
    first.webhook()
    assert first.drain() == "exported"
    first.follow_ups.run_due()
    assert len(raynet.posts[1234]) == 1
    for lost in (tmp_path / "state.db", tmp_path / "state.db.lock"):
        lost.unlink()
    afresh = Harness(raynet, tmp_path)
    afresh.webhook()
    assert afresh.drain() == "exported"
    afresh.follow_ups.run_due()
    assert afresh.files() == ["OP-24-057.xml"]
    assert len(raynet.posts[1234]) == 1
    assert afresh.outbox_counts().get("pending", 0) == 0


def test_write_back_can_be_switched_off_and_locking_on(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    off = Harness(raynet, tmp_path / "off", RAYNET_WRITE_BACK="0")
    off.webhook()
    off.drain()
    off.follow_ups.run_due()
    assert writes(raynet) == []
    locking = Harness(raynet, tmp_path / "lock", RAYNET_LOCK_EXPORTED="1")
    locking.webhook()
    locking.drain()
    locking.follow_ups.run_due()
    assert ("POST", "businessCase/1234/lock") in writes(raynet)
    assert 1234 in raynet.locked


def writes_in_order(raynet: RaynetStandIn, since: int = 0) -> list[str]:
    """RAYNET writes to the case as they came: unlock, extId, extId-, post, lock."""
    names = {"unlock": "unlock", "extId": "extId", "post": "post", "lock": "lock"}
    found = []
    for call in raynet.requests[since:]:
        if call.method == "GET" or not call.path.startswith("businessCase/1234/"):
            continue
        step = call.path.removeprefix("businessCase/1234/").split("/")[0]
        found.append(names[step] + ("-" if call.method == "DELETE" else ""))
    return found


def test_the_lock_is_the_last_write_and_a_reexport_unlocks_first(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path, RAYNET_LOCK_EXPORTED="1")
    raynet.fail("businessCase/1234/extId/", 503)  # the external id fails once
    harness.webhook()
    harness.drain()
    harness.follow_ups.run_due()
    assert 1234 not in raynet.locked  # the lock waits for the external id
    assert follow_up_states(harness) == {
        ("raynet_ext_id", 1): "pending",
        ("raynet_post", 1): "done",
        ("raynet_lock", 1): "pending",
    }
    harness.clock.advance(3600)
    harness.follow_ups.run_due()
    assert writes_in_order(raynet) == ["extId", "post", "extId", "lock"]
    assert 1234 in raynet.locked
    before = len(raynet.requests)
    harness.queue.request_reexport(1234)
    harness.drain()
    harness.follow_ups.run_due()
    assert writes_in_order(raynet, before) == ["unlock", "extId-", "extId", "post", "lock"]
    assert 1234 in raynet.locked
    assert follow_up_states(harness)[("raynet_unlock", 2)] == "done"
    assert ("raynet_unlock", 1) not in follow_up_states(harness)  # a first file locks only


def test_refused_credentials_hold_write_back_like_exports(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    harness.drain()
    raynet.fail("businessCase/1234/(extId|post)/", 401)
    harness.follow_ups.run_due()
    assert len(writes(raynet)) == 1  # the first write, refused; not the second
    assert "RAYNET refused the credentials" in (harness.worker.gate.closed_because() or "")
    calls = len(raynet.calls())
    harness.clock.advance(3600)
    harness.follow_ups.run_due()
    assert len(raynet.calls()) == calls  # nothing more is sent with refused credentials
    assert harness.queue.replay() == 0  # the operator fixed them: no restart needed
    harness.clock.advance(7200)
    harness.follow_ups.run_due()
    assert raynet.cases[1234]["extIds"] == ["moneys3:OP-24-057.xml"]


def post_webhook(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post("/webhooks/raynet", json=body, headers={"X-RAYNETCRM-Token": TOKEN})
