"""POST /webhooks/raynet: checked, stored durably, answered fast; never a 5xx for bad input."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Harness
from tests.support import TOKEN, examples, share, webhook_body
from webhook.errors import ConfigError
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.environment import Settings, load_settings
from webhook.state.ports import CaseRecords
from webhook.web import create_app, probes
from webhook.web.receiver import WRONG_TOKENS
from webhook.web.registry import EXTENSION
from webhook.worker.chores import HEARTBEAT_FLAG, TARGET_FLAG

URL = "/webhooks/raynet"
HEADERS = {"X-RAYNETCRM-Token": TOKEN}


def state_of(app: Flask) -> CaseRecords:
    """The case records behind the app's one instance."""
    records: CaseRecords = app.extensions[EXTENSION][""].state.records
    return records


def stored_events(app: Flask) -> int | None:
    return state_of(app).events_stored()


def test_business_case_event_is_stored_then_202(app: Flask, client: FlaskClient) -> None:
    body = webhook_body(event_id="5f0c2a9e8d4b4e7a9c1d2e3f4a5b6c7d")
    response = client.post(URL, json=body, headers=HEADERS)
    assert response.status_code == 202
    assert response.json == {"status": "accepted", "eventId": body["eventId"]}
    record = state_of(app).case(1234)
    assert record is not None
    assert record.state == "pending"


def test_same_event_again_is_a_duplicate_and_no_second_job(app: Flask, client: FlaskClient) -> None:
    body = webhook_body()
    assert client.post(URL, json=body, headers=HEADERS).status_code == 202
    again = client.post(URL, json=body, headers=HEADERS)
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "eventId": body["eventId"]}
    assert stored_events(app) == 1
    record = state_of(app).case(1234)
    assert record is not None
    assert record.events == 1


def test_a_repeat_is_a_duplicate_and_bad_json_is_kept_in_either_state_mode(
    raynet: RaynetStandIn, tmp_path: Path, state_mode: dict[str, str]
) -> None:
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, **state_mode)
    client = create_app(harness.settings).test_client()
    body = webhook_body(event_id="evt-twice")
    first, again = (client.post(URL, json=body, headers=HEADERS) for _ in range(2))
    assert (first.status_code, first.json) == (202, {"status": "accepted", "eventId": "evt-twice"})
    assert (again.status_code, again.json) == (200, {"status": "duplicate", "eventId": "evt-twice"})
    assert harness.drain() == "exported"
    assert harness.files() == ["OP-24-057.xml"]
    unreadable = client.post(URL, data=b"\xff{", headers=HEADERS)
    assert unreadable.json == {"status": "ignored", "reason": "unreadable"}
    (kept,) = harness.records.unreadable()
    assert (kept.problem and kept.problem.code, kept.body) == ("webhook_not_json", b"\xff{")


@pytest.mark.parametrize("entity", ["businesscase", "BUSINESSCASE", "BusinessCase"])
def test_entity_name_is_compared_case_insensitively(client: FlaskClient, entity: str) -> None:
    response = client.post(URL, json=webhook_body(entity=entity), headers=HEADERS)
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (webhook_body(entity="Company"), "entity Company"),
        (webhook_body(kind="record.deleted"), "deleted record"),
    ],
)
def test_other_entities_and_deletions_are_ignored(
    app: Flask, client: FlaskClient, body: dict[str, Any], reason: str
) -> None:
    response = client.post(URL, json=body, headers=HEADERS)
    assert response.status_code == 200
    assert response.json == {"status": "ignored", "reason": reason}
    assert stored_events(app) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-RAYNETCRM-Token": "wrong"},
        {"X-RAYNETCRM-Token": TOKEN + "x"},
        {"x-raynetcrm-token": TOKEN[:-1]},
    ],
)
def test_wrong_or_missing_token_is_401(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.post(URL, json=webhook_body(), headers=headers)
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["error"] == "unauthorized"
    assert stored_events(app) == 0


def test_an_address_guessing_tokens_is_turned_away_and_the_right_token_always_heard(
    app: Flask, client: FlaskClient
) -> None:
    """20 wrong tokens from one address: its wrong ones are 429 with Retry-After until the
    window ends, while the right token from there (RAYNET behind the same NAT or proxy)
    is stored."""
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(WRONG_TOKENS.most):
        wrong = {"X-RAYNETCRM-Token": f"guess-{n:04d}-0123456789"}
        answer = client.post(URL, json=webhook_body(), headers=wrong, environ_base=guesser)
        assert answer.status_code == 401
    turned_away = client.post(
        URL, json=webhook_body(), headers={"X-RAYNETCRM-Token": "one-more"}, environ_base=guesser
    )
    assert turned_away.status_code == 429
    assert turned_away.json is not None
    assert turned_away.json["error"] == "too_many_wrong_tokens"
    assert 590 <= int(turned_away.headers["Retry-After"]) <= 600
    heard = client.post(URL, json=webhook_body(), headers=HEADERS, environ_base=guesser)
    assert heard.status_code == 202
    assert stored_events(app) == 1


def test_an_address_turned_away_is_heard_again_when_its_window_ends(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WRONG_TOKENS, "seconds", 1)
    wrong = {"X-RAYNETCRM-Token": "wrong"}
    for _ in range(WRONG_TOKENS.most):
        client.post(URL, json=webhook_body(), headers=wrong)
    assert client.post(URL, json=webhook_body(), headers=wrong).status_code == 429
    time.sleep(1.1)
    assert client.post(URL, json=webhook_body(), headers=wrong).status_code == 401


def test_header_name_is_case_insensitive(client: FlaskClient) -> None:
    response = client.post(URL, json=webhook_body(), headers={"x-raynetcrm-token": TOKEN})
    assert response.status_code == 202


def test_an_authenticated_body_that_is_no_event_is_ignored_and_kept(
    app: Flask, client: FlaskClient
) -> None:
    """RAYNET retries a failing delivery for days and then deletes the webhook: a body it
    sent with our token that is not its event shape gets 200 ``ignored``, and is kept for
    a look on the dashboard (counted in /metrics as ``unreadable``)."""
    not_json = client.post(URL, data=b"\xff{not json", headers=HEADERS)
    assert not_json.status_code == 200
    assert not_json.json == {"status": "ignored", "reason": "unreadable"}
    body = webhook_body()
    del body["eventId"]
    body["data"]["entityId"] = "1234"
    shape = client.post(URL, json=body, headers=HEADERS)
    assert shape.status_code == 200
    deep = client.post(URL, data=b"[" * 100_000, headers=HEADERS)
    assert deep.status_code in (200, 413)
    kept = state_of(app).unreadable()
    assert [str(event.problem) for event in kept][-2:] == [
        'not a RAYNET webhook event: {"eventId": ["1 to 64 letters, digits or -_.: required."], '
        '"data": {"entityId": ["An integer from 1 to 9223372036854775807 required."]}}',
        "the body is not JSON",
    ]
    assert kept[-1].body == b"\xff{not json"
    assert stored_events(app) == 0
    unsigned = client.post(URL, data=b"{", headers={"X-RAYNETCRM-Token": "wrong"})
    assert unsigned.status_code == 401  # a stranger's body is neither kept nor looked at
    assert len(state_of(app).unreadable()) == len(kept)


def test_body_over_the_limit_is_413(client: FlaskClient) -> None:
    body = webhook_body()
    body["author"] = "x" * (70 * 1024)
    response = client.post(URL, json=body, headers=HEADERS)
    assert response.status_code == 413
    assert response.json is not None
    assert response.json["error"] == "too_large"


@pytest.mark.parametrize("declared", ["-1", "1e3", " 12", "²"])
def test_a_content_length_that_is_not_a_count_is_400(client: FlaskClient, declared: str) -> None:
    response = client.post(
        URL, json=webhook_body(), headers=HEADERS, environ_overrides={"CONTENT_LENGTH": declared}
    )
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["error"] == "invalid_length"


def test_unknown_path_and_method_answer_json(client: FlaskClient) -> None:
    assert client.get(URL).status_code == 405
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json is not None


def test_refuses_to_start_without_token(tmp_path: Path) -> None:
    bare = load_settings({"STATE_DB": str(tmp_path / "s.db")})
    with pytest.raises(ConfigError, match="WEBHOOK_TOKEN is not set"):
        create_app(bare)
    relaxed = load_settings(
        {
            "STATE_DB": str(tmp_path / "s.db"),
            "WEBHOOK_ALLOW_NO_TOKEN": "1",
            "EXPORT_TARGET": share(tmp_path / "e"),
        }
    )
    response = create_app(relaxed).test_client().post(URL, json=webhook_body())
    assert response.status_code == 202


def test_state_store_failure_is_503_so_raynet_retries(
    app: Flask, client: FlaskClient, settings: Settings
) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.state_db}{suffix}").unlink(missing_ok=True)
    settings.state_db.write_bytes(b"this is not a database" * 100)
    response = client.post(URL, json=webhook_body(), headers=HEADERS)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json == {"error": "unavailable", "message": "state store unavailable"}


def test_health_and_readiness(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probes, "PROBE_SECONDS", 0.0)  # no finding is reused
    assert client.get("/healthz").json == {"status": "ok"}
    state_of(app).set_flag(HEARTBEAT_FLAG, repr(time.time()))  # a worker is alive
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {
        "status": "ready",
        "checks": {"state_store": "ok", "export_target": "ok", "worker": "ok"},
    }
    state_of(app).set_flag(TARGET_FLAG, "EXPORT_TARGET /mnt/x does not exist")  # as it saw
    broken = client.get("/readyz")
    assert broken.status_code == 503
    assert broken.json is not None
    assert broken.json["checks"]["export_target"] == "EXPORT_TARGET /mnt/x does not exist"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "eventId": st.one_of(st.text(max_size=80), json_values),
        "type": st.one_of(
            st.sampled_from(["record.created", "record.updated", "record.deleted"]), json_values
        ),
        "data": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "entityName": st.one_of(
                        st.sampled_from(["BusinessCase", "Company"]), json_values
                    ),
                    "entityId": st.one_of(st.integers(), json_values),
                },
            ),
            json_values,
        ),
    },
)
bodies = st.one_of(
    event_like.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
)
header_text = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60)
tokens = st.one_of(st.just(TOKEN), header_text.filter(lambda t: t != TOKEN))


@settings(
    max_examples=examples(400),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=bodies,
    token=tokens,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
    ),
)
def test_fuzzed_requests_never_5xx_and_invalid_bodies_store_nothing(
    app: Flask, client: FlaskClient, body: bytes, token: str, content_type: str
) -> None:
    headers = {"X-RAYNETCRM-Token": token}
    before = stored_events(app)
    response = client.post(URL, data=body, headers=headers, content_type=content_type)
    assert response.status_code < 500
    assert response.is_json
    if response.status_code != 202:
        assert stored_events(app) == before


@pytest.mark.parametrize("entity_id", [2**63, 10**30, -1, 0])
def test_ids_outside_64_bits_are_no_event(app: Flask, client: FlaskClient, entity_id: int) -> None:
    response = client.post(URL, json=webhook_body(case_id=entity_id), headers=HEADERS)
    assert response.status_code == 200
    assert response.json == {"status": "ignored", "reason": "unreadable"}
    (kept,) = state_of(app).unreadable()
    assert "entityId" in str(kept.problem)
    assert stored_events(app) == 0


def test_a_huge_id_never_spoils_the_commit_it_shares(app: Flask) -> None:
    """Events that arrive together share a transaction: one bad id must not fail the rest."""
    results: list[int] = []

    def post(case_id: int) -> None:
        answer = app.test_client().post(URL, json=webhook_body(case_id=case_id), headers=HEADERS)
        results.append(answer.status_code)

    threads = [
        threading.Thread(target=post, args=(2**63 if n % 5 == 0 else n + 1,)) for n in range(100)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 20 + [202] * 80
    assert stored_events(app) == 80
