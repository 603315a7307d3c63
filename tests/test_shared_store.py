"""Many hosts behind a load balancer, no sticky sessions: ``RATE_LIMIT_STORAGE=redis://``.

Two receivers (each its own ``serve --no-worker`` with one gunicorn worker, its own state
folder and export folder) share nothing but one redis-server. Rate limits, used button
tokens and dashboard sessions then hold across them; the last test shows that without the
shared store they do not (each host counts in the SQLite file beside its own state).
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from limits.storage import RedisStorage, Storage, storage_from_string

from tests.servers import ONE_HTTP_WORKER, Service, free_port, redis_server
from tests.support import share, webhook_body
from webhook.raynet.standin import RaynetStandIn
from webhook.web.button import NOT_CONFIRMED, STORE_DOWN, TOO_MANY_REJECTED
from webhook.web.limits import SqliteStorage

pytestmark = pytest.mark.slow

ADMIN = "admin-token-0123456789"
PERSON = 12  # the owner of case 1234, as RAYNET sends the pressing user
CHECKTOKEN = "security/checktoken/"


def two_hosts(service: Any, tmp_path: Path, **shared: str) -> tuple[Service, Service]:
    """Host A and host B: one process each, so whatever they share goes through ``shared``."""
    started: list[Service] = [
        service(
            "--no-worker",
            *ONE_HTTP_WORKER,
            STATE_DB=str(tmp_path / name / "var" / "state.db"),
            EXPORT_TARGET=share(tmp_path / name / "exports"),
            ADMIN_TOKEN=ADMIN,
            **shared,
        )
        for name in ("host-a", "host-b")
    ]
    return started[0], started[1]


@pytest.fixture
def hosts(service: Any, tmp_path: Path, redis_url: str) -> tuple[Service, Service]:
    return two_hosts(service, tmp_path, RATE_LIMIT_STORAGE=redis_url)


def press(host: Service, token: str) -> dict[str, Any]:
    """The Export button on case 1234, pressed by its owner, from 127.0.0.1."""
    query: dict[str, str | int] = {
        "token": token,
        "entityId": 1234,
        "personId": PERSON,
        "userName": "Petr",
    }
    answer = requests.get(
        f"{host.url}/raynet/button",
        params=query,
        headers={"Accept-Language": "en"},
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def login(host: Service, token: str = ADMIN) -> requests.Response:
    return requests.post(
        f"{host.url}/admin/login",
        data={"token": token, "name": "Jana"},
        allow_redirects=False,
        timeout=10,
    )


def session_cookie(host: Service) -> str:
    opened = login(host)
    assert opened.status_code == 302, opened.text
    cookie: str = opened.cookies["bridge_admin"]
    return cookie


def dashboard(host: Service, cookie: str) -> requests.Response:
    return requests.get(
        f"{host.url}/admin/", cookies={"bridge_admin": cookie}, allow_redirects=False, timeout=10
    )


def test_forged_tokens_from_one_address_are_counted_across_hosts(
    hosts: tuple[Service, Service], raynet: RaynetStandIn
) -> None:
    """button.REJECTED: three forged tokens on A, and B asks RAYNET about no fourth."""
    a, b = hosts
    for n in range(3):
        assert press(a, f"forged-token-{n:04d}")["message"] == NOT_CONFIRMED
    assert len(raynet.calls(CHECKTOKEN)) == 3
    assert press(b, "forged-token-0003") == {
        "success": False,
        "message": TOO_MANY_REJECTED % {"minutes": 10},
    }
    assert len(raynet.calls(CHECKTOKEN)) == 3


def test_a_token_used_on_one_host_is_refused_on_another_without_asking_raynet(
    hosts: tuple[Service, Service], raynet: RaynetStandIn
) -> None:
    a, b = hosts
    token = raynet.issue_button_token(PERSON)
    assert press(a, token)["success"] is True
    assert len(raynet.calls(CHECKTOKEN)) == 1
    assert press(b, token) == {"success": False, "message": NOT_CONFIRMED}
    assert len(raynet.calls(CHECKTOKEN)) == 1


def test_a_dashboard_session_opened_on_one_host_works_and_ends_on_the_other(
    hosts: tuple[Service, Service],
) -> None:
    a, b = hosts
    cookie = session_cookie(a)
    assert dashboard(a, cookie).status_code == 200
    page = dashboard(b, cookie)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    logout = requests.post(
        f"{b.url}/admin/logout",
        data={"csrf": csrf[1]},
        cookies={"bridge_admin": cookie},
        allow_redirects=False,
        timeout=10,
    )
    assert logout.status_code == 302
    assert dashboard(a, cookie).status_code == 401  # the saved cookie is dead on A too
    assert dashboard(b, cookie).status_code == 401


def test_login_tries_from_one_address_are_counted_across_hosts(
    hosts: tuple[Service, Service],
) -> None:
    """LOGIN_PER_ADDRESS is 5 a minute for the address, not 5 per host."""
    a, b = hosts
    for n, host in enumerate((a, b, a, b, a)):
        assert login(host, f"guess-{n}").status_code == 401
    assert login(b).status_code == 429
    assert login(a).status_code == 429


def test_without_a_shared_store_each_host_counts_alone(
    service: Any, tmp_path: Path, raynet: RaynetStandIn
) -> None:
    """The control: RATE_LIMIT_STORAGE unset, each host counts in the SQLite file beside its
    own state, and none of the above holds (so the tests above can fail)."""
    a, b = two_hosts(service, tmp_path)
    cookie = session_cookie(a)
    assert dashboard(a, cookie).status_code == 200
    assert dashboard(b, cookie).status_code == 401

    for n in range(4):  # with the login above, A's five a minute are spent; B's are not
        assert login(a, f"guess-{n}").status_code == 401
    assert login(a).status_code == 429
    assert login(b).status_code == 302

    token = raynet.issue_button_token(PERSON)
    assert press(a, token)["success"] is True
    assert press(b, token)["message"] == NOT_CONFIRMED
    assert len(raynet.calls(CHECKTOKEN)) == 2  # B asked RAYNET about a token A had used

    for n in range(3):
        press(a, f"forged-token-{n:04d}")
    assert press(b, "forged-token-0003")["message"] == NOT_CONFIRMED
    assert len(raynet.calls(CHECKTOKEN)) == 6  # and about a fourth forged one
    for host in ("host-a", "host-b"):
        assert (tmp_path / host / "var" / "limits.db").is_file()


def storage(uri: str) -> Storage:
    """The storage ``init_limits`` makes of ``uri`` (``storage_from_string``)."""
    store = storage_from_string(uri)
    assert isinstance(store, Storage)  # not the asyncio kind
    return store


def test_redis_counts_as_the_sqlite_storage_does(redis_url: str, tmp_path: Path) -> None:
    """What web/limits, the button and the sessions rely on, side by side: ``incr`` answers
    the new count and sets the expiry only when it creates the counter (a later ``incr``
    does not extend it), ``get`` is 0 for a missing or expired counter, ``clear`` deletes."""
    stores = [storage(redis_url), storage(f"sqlite://{tmp_path}/limits.db")]
    assert isinstance(stores[0], RedisStorage)
    assert isinstance(stores[1], SqliteStorage)

    def steps(store: Storage) -> list[Any]:
        return [
            store.incr("k", 1),
            store.incr("k", 100),
            store.get("k"),
            store.get("missing"),
            store.incr("kept", 100, amount=2),
            store.clear("missing"),
        ]

    before = [steps(store) for store in stores]
    assert before[0] == before[1] == [1, 2, 2, 0, 2, None]
    time.sleep(1.3)  # "k" was created with 1 s to live; the second incr's 100 s did not count
    after = [[store.get("k"), store.incr("k", 100), store.get("kept")] for store in stores]
    assert after[0] == after[1] == [0, 1, 2]
    for store in stores:
        store.clear("k")
    assert [store.get("k") for store in stores] == [0, 0]
    assert all(type(value) is int for value in (*before[0][:5], *after[0]))


def test_a_hung_redis_is_said_in_time_and_its_return_needs_no_restart(
    service: Any, tmp_path: Path, raynet: RaynetStandIn
) -> None:
    """Redis stopped (SIGSTOP): a press hears the button's own message, a login a 503 page,
    each within the 2 s timeouts; webhooks never needed Redis. SIGCONT: all work again."""
    port = free_port()
    redis = redis_server(port, tmp_path / "redis.log")
    try:
        (host, _) = two_hosts(service, tmp_path, RATE_LIMIT_STORAGE=f"redis://127.0.0.1:{port}")
        assert press(host, "forged-token-0000")["message"] == NOT_CONFIRMED
        redis.popen.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        assert press(host, "forged-token-0001") == {"success": False, "message": STORE_DOWN}
        refused = login(host)
        assert refused.status_code == 503
        assert "RATE_LIMIT_STORAGE" in refused.text
        assert time.monotonic() - started < 10
        assert host.post(webhook_body()).status_code == 202
        redis.popen.send_signal(signal.SIGCONT)
        assert press(host, "forged-token-0002")["message"] == NOT_CONFIRMED
        assert login(host).status_code == 302
    finally:
        redis.popen.send_signal(signal.SIGCONT)
        redis.stop()
