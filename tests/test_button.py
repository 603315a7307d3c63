"""The Export button inside RAYNET, against the local RAYNET API (token checked there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.harness import Harness
from tests.support import TOKEN
from webhook.raynet.standin import RaynetStandIn
from webhook.web import create_app

PERSON = 902


@pytest.fixture
def harness(raynet: RaynetStandIn, tmp_path: Path) -> Harness:
    return Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN)


@pytest.fixture
def button(harness: Harness) -> FlaskClient:
    return create_app(harness.settings).test_client()


def press(
    client: FlaskClient,
    raynet: RaynetStandIn,
    case_id: int = 1234,
    token: str | None = None,
    **extra: str,
) -> tuple[int, Any]:
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


def test_pressing_again_exports_again(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    press(button, raynet)
    _, body = press(button, raynet)
    assert body == {"success": True, "message": "Exported to Money S3 again as OP-24-057+2.xml."}
    assert harness.files() == ["OP-24-057+2.xml", "OP-24-057.xml"]


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


def test_a_forged_token_does_not_switch_the_button_off(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn
) -> None:
    """RAYNET answers 403 to an unknown token; that says nothing about our credentials."""
    for _ in range(3):
        assert press(button, raynet, token="forged-by-anyone")[1]["success"] is False
    assert press(button, raynet)[1]["success"] is True
    assert harness.files() == ["OP-24-057.xml"]
    assert harness.worker.paused_because() is None


def test_not_exportable_cases_say_why(
    button: FlaskClient, harness: Harness, raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    raynet.add_case({**won_case, "status": "B_ACTIVE"})
    assert press(button, raynet)[1] == {
        "success": False,
        "message": "Not exported: not won (status B_ACTIVE).",
    }
    raynet.add_case({**won_case, "items": []})
    assert press(button, raynet)[1]["message"] == "Not exported: no products."
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
