"""The Export button inside RAYNET, against the local RAYNET API (token checked there)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.harness import Harness
from tests.support import TOKEN
from webhook.raynet.standin import RaynetStandIn
from webhook.web import create_app
from webhook.web.button import BUSY, QUEUED

PERSON = 12  # the owner of case 1234, as RAYNET sends the pressing user


@pytest.fixture
def harness(raynet: RaynetStandIn, tmp_path: Path) -> Harness:
    return Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN)


@pytest.fixture
def button(harness: Harness) -> FlaskClient:
    return create_app(harness.settings).test_client()


def press(
    client: FlaskClient,
    raynet: RaynetStandIn,
    *,
    case_id: int = 1234,
    token: str | None = None,
    language: str = "en",
    **extra: str,
) -> tuple[int, Any]:
    """A press from a browser in ``language`` (the messages below are English)."""
    token = token or raynet.issue_button_token(PERSON)
    response = client.get(
        "/raynet/button",
        query_string={
            "token": token,
            "entityId": case_id,
            "personId": PERSON,
            "userName": "Petr",
            **extra,
        },
        headers={"Accept-Language": language},
    )
    return response.status_code, response.json


def test_a_valid_token_exports_and_says_the_file_name(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    status, body = press(button, raynet)
    assert (status, body) == (
        200,
        {"success": True, "message": "Exported to Money S3 as OP-24-057.xml."},
    )
    assert harness.files() == ["OP-24-057.xml"]
    assert len(raynet.calls("security/checktoken/")) == 1


def test_an_exported_case_is_exported_again_only_on_a_second_press(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    press(button, raynet)
    status, asked = press(button, raynet)
    assert (status, asked["success"]) == (200, False)
    assert asked["message"].startswith("Already exported to Money S3 as OP-24-057.xml (")
    assert "Press the button again within 2 minutes" in asked["message"]
    assert harness.files() == ["OP-24-057.xml"]
    _, body = press(button, raynet)
    assert body == {"success": True, "message": "Exported to Money S3 again as OP-24-057+2.xml."}
    assert harness.files() == ["OP-24-057+2.xml", "OP-24-057.xml"]
    assert press(button, raynet)[1]["success"] is False  # and asks again for a third file


def test_the_answer_is_czech_unless_the_browser_asks_otherwise(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    """RAYNET shows the answer to the salesperson: Czech by default (BRIDGE_LANGUAGE)."""
    raynet.add_case({**won_case, "status": "B_ACTIVE"})
    assert press(button, raynet, language="")[1] == {
        "success": False,
        "message": "Neexportováno: obchodní případ není vyhraný (stav otevřený).",
    }
    raynet.add_case(won_case)
    assert press(button, raynet, language="cs-CZ,cs;q=0.9")[1] == {
        "success": True,
        "message": "Exportováno do Money S3 jako OP-24-057.xml.",
    }


def test_a_reused_or_unknown_token_is_refused(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    token = raynet.issue_button_token(PERSON)
    press(button, raynet, token=token)
    for refused in (token, "not-a-token-raynet-issued"):
        status, body = press(button, raynet, token=refused)
        assert status == 200
        assert body["success"] is False
        assert "Press the button again" in body["message"]
    assert harness.files() == ["OP-24-057.xml"]
    other_person = raynet.issue_button_token(PERSON + 1)
    assert press(button, raynet, token=other_person)[1]["success"] is False
    # The reused token was not worth a question: RAYNET saw each other token once.
    assert len(raynet.calls("security/checktoken/")) == 3


def test_a_forged_token_does_not_switch_the_button_off(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    """RAYNET answers 403 to an unknown token; that says nothing about our credentials."""
    for _ in range(3):
        assert press(button, raynet, token="forged-by-anyone")[1]["success"] is False
    assert press(button, raynet)[1]["success"] is True
    assert harness.files() == ["OP-24-057.xml"]
    assert harness.worker.gate.closed_because() is None


def test_not_exportable_cases_say_why(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    raynet.add_case({**won_case, "status": "B_ACTIVE"})
    assert press(button, raynet)[1] == {
        "success": False,
        "message": "Not exported: the deal is not won (status open).",
    }
    raynet.add_case({**won_case, "items": []})
    assert press(button, raynet)[1]["message"] == "Not exported: the deal has no products."
    assert harness.files() == []


def test_paused_exports_and_other_entities(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    assert press(button, raynet, entityName="Company")[1]["success"] is False
    harness.records.set_sync_enabled(False)
    body = press(button, raynet)[1]
    assert body["success"] is False
    assert "paused" in body["message"]
    assert harness.files() == []


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"token": "x", "entityId": "abc", "personId": "1"},
        {"token": "x", "entityId": "1"},
        {"token": "", "entityId": "1", "personId": "1"},
        {"token": "x", "entityId": str(2**63), "personId": "1"},
        {"token": "x", "entityId": "1", "personId": "1" + "0" * 30},
    ],
)
def test_requests_that_are_not_from_raynet_are_400(
    button: FlaskClient, query: dict[str, str]
) -> None:
    response = button.get("/raynet/button", query_string=query)
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["success"] is False


def test_a_token_for_one_case_cannot_export_another_persons_case(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    """RAYNET's token proves the person, not the record: the case must be theirs."""
    raynet.add_case(
        {**won_case, "id": 77, "code": "OP-24-077", "owner": {"id": 13, "fullName": "Jana Malá"}}
    )
    status, body = press(button, raynet, case_id=77)
    assert (status, body["success"]) == (200, False)
    assert body["message"].startswith("Only the case's owner (Jana Malá) can send it")
    _, missing = press(button, raynet, case_id=999_999)
    assert missing == {"success": False, "message": "This business case does not exist in RAYNET."}
    assert harness.files() == []
    assert harness.records.case(77) is None
    assert harness.records.case(999_999) is None


def test_unauthenticated_presses_never_reach_raynet(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    """Row 2: 200 presses with made-up tokens cost RAYNET's quota nothing."""
    answers = [press(button, raynet, token=f"bogus{n}")[1] for n in range(200)]
    assert all(answer["success"] is False for answer in answers)
    assert raynet.calls() == []
    assert harness.files() == []


def test_presses_are_rate_limited_per_address(button: FlaskClient, raynet: RaynetStandIn) -> None:
    for _ in range(30):
        press(button, raynet, token="x")
    _, body = press(button, raynet)
    assert body == {
        "success": False,
        "message": "Too many presses in a short time; wait a minute and press again.",
    }
    other_address = button.get(
        "/raynet/button",
        query_string={"token": "x", "entityId": 1, "personId": 1},
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
        headers={"Accept-Language": "en"},
    )
    assert other_address.json is not None
    assert "Too many" not in other_address.json["message"]
    assert raynet.calls() == []


def test_the_limits_count_across_processes(raynet: RaynetStandIn, harness: Harness) -> None:
    """Two gunicorn workers are two apps on one storage: 30 presses in all, not 60."""
    first, second = (create_app(harness.settings).test_client() for _ in range(2))
    for _ in range(15):
        press(first, raynet, token="x")
        press(second, raynet, token="x")
    assert "Too many" in press(first, raynet, token="x")[1]["message"]
    assert "Too many" in press(second, raynet, token="x")[1]["message"]


def test_the_button_key_is_checked_before_anything_else(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN, BUTTON_KEY="k" * 24)
    client = create_app(harness.settings).test_client()
    answers = [press(client, raynet)] + [
        press(client, raynet, key=key) for key in ("", "wrong", "k" * 23)
    ]
    for status, body in answers:
        assert status == 403
        assert body["success"] is False
    assert raynet.calls() == []
    assert press(client, raynet, key="k" * 24)[1]["success"] is True
    assert harness.files() == ["OP-24-057.xml"]


def test_the_last_tenth_of_the_daily_quota_is_kept_for_exports(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    raynet.remaining = 3_000
    press(button, raynet)  # RAYNET reports what is left with every answer
    calls = len(raynet.calls())
    raynet.remaining = 2_000
    harness.records.set_flag("unused", None)
    press(button, raynet, case_id=1234)
    assert len(raynet.calls()) > calls  # 2,000 was not known yet: still asked
    calls = len(raynet.calls())
    _, body = press(button, raynet)
    assert body["success"] is False
    assert "running low" in body["message"]
    assert len(raynet.calls()) == calls


def test_slow_raynet_busies_two_threads_at_most(button: FlaskClient, raynet: RaynetStandIn) -> None:
    """Twenty presses at once while RAYNET takes a second: two are verified at a time, two
    exports run on, the rest hear "busy" at once; RAYNET never sees more than its 4
    connections from one process."""
    raynet.latency = 1.0
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: press(button, raynet)[1]["message"], range(20)))
    assert answers.count(BUSY) >= 10
    assert raynet.max_concurrent <= 4


@pytest.mark.slow
def test_the_answer_comes_within_raynets_patience(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    """RAYNET at 2.5 s a request: verifying takes 5 s, the export 7.5 s more. The button
    answers at 8 s that the case is queued, and the export finishes behind it."""
    raynet.latency = 2.5
    started = time.monotonic()
    _, body = press(button, raynet)
    answered = time.monotonic() - started
    assert body == {"success": True, "message": QUEUED}
    assert answered < 10
    deadline = time.monotonic() + 30
    while harness.files() != ["OP-24-057.xml"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert harness.files() == ["OP-24-057.xml"]


def test_forged_tokens_cost_raynet_three_requests_per_address(
    button: FlaskClient, raynet: RaynetStandIn
) -> None:
    """Well-formed tokens RAYNET never issued: it is asked about 3 from one address in 10
    minutes, then not again, and the answer says how long; another address still gets
    its own 3."""
    for n in range(3):
        assert press(button, raynet, token=f"forged-token-{n:04d}")[1]["success"] is False
    _, turned_away = press(button, raynet, token="forged-token-0003")
    assert turned_away["message"] == (
        "RAYNET did not confirm several presses from this address lately; the button works "
        "here again in 10 min."
    )
    assert press(button, raynet)[1]["success"] is False  # a real token too, from there
    assert len(raynet.calls("security/checktoken/")) == 3
    elsewhere = press_from(button, "10.0.0.8", "forged-token-9999")
    assert "did not confirm" in elsewhere["message"]
    assert len(raynet.calls("security/checktoken/")) == 4


def test_forged_tokens_from_a_hundred_addresses_lock_no_one_else_out(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    """No limit counts everyone together: a salesperson's press after 100 addresses' worth
    of forged tokens (each turned away after its 3) still exports."""
    for address in range(100):
        for n in range(4):
            press_from(button, f"10.1.{address}.1", f"forged-token-{address:03d}{n}")
    assert len(raynet.calls("security/checktoken/")) == 300
    assert press(button, raynet)[1]["success"] is True
    assert harness.files() == ["OP-24-057.xml"]


def press_from(client: FlaskClient, address: str, token: str) -> Any:
    """A press from another address (RAYNET checks tokens per person, not per address)."""
    answer = client.get(
        "/raynet/button",
        query_string={"token": token, "entityId": 1234, "personId": PERSON},
        environ_base={"REMOTE_ADDR": address},
        headers={"Accept-Language": "en"},
    )
    return answer.json


def test_a_401_from_the_token_check_stops_nothing(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    """The press after a 401 from checktoken asks RAYNET again and exports: that answer
    says nothing of the bridge's credentials, and no stop was set."""
    raynet.fail("security/checktoken/", 401)
    assert press(button, raynet)[1]["success"] is False
    assert harness.worker.gate.closed_because() is None
    assert press(button, raynet)[1] == {
        "success": True,
        "message": "Exported to Money S3 as OP-24-057.xml.",
    }
    assert len(raynet.calls("security/checktoken/")) == 2
