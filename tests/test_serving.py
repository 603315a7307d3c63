"""The service under gunicorn, tried as an attacker would: slow sockets, huge bodies, odd
paths, a second copy on the same port. Real processes on loopback."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from tests.servers import ROOT, Process, Service, free_port, listening, run_bridge, wait_until
from tests.support import TOKEN, webhook_body
from tests.test_money_standin import order_file
from webhook.moneys3.standin import MoneyS3StandIn
from webhook.raynet.standin import RaynetStandIn
from webhook.web.gunicorn_worker import RequestRefused, request_end

HEAD = b"POST /webhooks/raynet HTTP/1.1\r\nHost: bridge\r\nX-RAYNETCRM-Token: " + TOKEN.encode()


CHUNKED = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("data", "after"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b""),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", b"GET /next"),
        (CHUNKED + b"3\r\nabc\r\n0\r\n\r\n", b""),
        (CHUNKED + b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", b"POST"),
    ],
)
def test_a_request_ends_where_its_framing_says(data: bytes, after: bytes) -> None:
    assert request_end(data + after, 1024, 1024) == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc",
        CHUNKED + b"3\r\nabc\r\n",
        CHUNKED + b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n",
    ],
)
def test_an_incomplete_request_is_waited_for(data: bytes) -> None:
    assert request_end(data, 1024, 1024) is None


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 413),  # known before it arrives
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7D0\r\n", 413),
        (b"X" * 1100, 413),  # a head that never ends
        (b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
)
def test_oversized_or_broken_requests_are_refused(data: bytes, status: int) -> None:
    with pytest.raises(RequestRefused) as refused:
        request_end(data, 1024, 1024)
    assert refused.value.status == status


def answer_status(port: int, payload: bytes, timeout: float = 15) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(payload)
        status_line = connection.recv(200).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


@contextmanager
def stalled_sockets(port: int, count: int, payload: bytes) -> Iterator[list[socket.socket]]:
    """``count`` connections that send ``payload`` and then nothing."""
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(count)
        ]
        for stalled in sockets:
            stalled.sendall(payload)
        yield sockets


@pytest.mark.slow
def test_stalled_sockets_do_not_starve_the_webhooks(service: Any) -> None:
    """10 sockets stalled in their headers and 10 in their bodies, 2 processes × 4 threads:
    a real webhook is still answered at once."""
    running: Service = service("--no-worker")
    half_head = HEAD + b"\r\nContent-Type: application/json\r\n"
    half_body = HEAD + b"\r\nContent-Length: 500\r\n\r\n" + b'{"eventId": "x'
    with (
        stalled_sockets(running.port, 10, half_head),
        stalled_sockets(running.port, 10, half_body),
    ):
        time.sleep(0.5)  # every stalled socket has been seen by a worker
        for _ in range(5):
            started = time.monotonic()
            assert running.post(webhook_body()).status_code == 202
            assert time.monotonic() - started < 2.0


@pytest.mark.slow
def test_a_request_trickling_past_its_deadline_is_answered_408(service: Any) -> None:
    running: Service = service("--no-worker")
    with socket.create_connection(("127.0.0.1", running.port), timeout=20) as slow:
        started = time.monotonic()
        for byte in (HEAD + b"\r\nContent-Length: 2\r\n\r\n")[:40]:
            slow.sendall(bytes([byte]))
            time.sleep(0.3)  # each byte well inside the 5 s idle limit
            if time.monotonic() - started > 11:
                break
        answer = slow.recv(200)
    assert answer.startswith(b"HTTP/1.1 408")


@pytest.mark.slow
def test_a_body_that_stops_arriving_is_answered_408_at_its_deadline(service: Any) -> None:
    """Left to gthread, the connection is closed 5 s after it stalls, without a word."""
    running: Service = service("--no-worker")
    with socket.create_connection(("127.0.0.1", running.port), timeout=20) as stalled:
        started = time.monotonic()
        stalled.sendall(HEAD + b"\r\nContent-Length: 500\r\n\r\n" + b'{"eventId": "x')
        answer = stalled.recv(200)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 9.5 < waited < 13  # REQUEST_SECONDS from the first byte, as the README says


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_413_not_truncated(service: Any) -> None:
    running: Service = service("--no-worker", WEBHOOK_MAX_BODY="2048")
    body = json.dumps({**webhook_body(), "padding": "x" * 4000}).encode()
    chunked = b"".join(
        f"{len(part):X}\r\n".encode() + part + b"\r\n"
        for part in (body[i : i + 1000] for i in range(0, len(body), 1000))
    )
    request = HEAD + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"
    assert answer_status(running.port, request) == 413
    huge = HEAD + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + b"200000\r\n" + b"x" * 1000
    assert answer_status(running.port, huge) == 413  # the worker's own cap, unread
    assert running.post(webhook_body()).status_code == 202


@pytest.mark.slow
def test_access_log_stays_one_json_object_a_line(service: Any) -> None:
    running: Service = service("--no-worker")
    assert answer_status(running.port, b'GET /healthz%0a{"forged":1} HTTP/1.1\r\nHost: x\r\n\r\n')
    assert answer_status(running.port, b'GET /q"uote HTTP/1.1\r\nHost: x\r\n\r\n') == 404
    time.sleep(0.5)
    access = [
        json.loads(line)
        for line in running.process.output().splitlines()
        if line.startswith('{"time"') and '"method"' in line
    ]
    paths = {entry["path"] for entry in access}
    assert '/healthz\n{"forged":1}' in paths
    assert '/q"uote' in paths
    assert not any(
        "forged" in line and not line.startswith("{")
        for line in running.process.output().splitlines()
    )


@pytest.mark.slow
def test_one_service_per_port(service: Any, env: dict[str, str], tmp_path: Path) -> None:
    running: Service = service("--no-worker")
    second = run_bridge(["serve", "--no-worker", "--port", str(running.port)], env)
    assert second.returncode == 2
    assert (
        second.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot listen on 127.0.0.1:{running.port}")
    )
    with socket.socket() as other_program:
        port = free_port()
        other_program.bind(("127.0.0.1", port))
        other_program.listen()
        taken = run_bridge(["serve", "--no-worker", "--port", str(port)], env)
    assert taken.returncode == 2
    assert "listening" not in taken.stderr


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx_in_front(service: Any, tmp_path: Path) -> Iterator[int]:
    """Debian's nginx on loopback with deploy/nginx/bridge-locations.conf, before the bridge."""
    if not Path(NGINX).exists():
        pytest.skip("Debian's nginx is not installed (.ci/run installs it)")
    bridge: Service = service("--no-worker")
    port = free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "nginx.conf").write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {prefix}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream raynet_bridge {{ server 127.0.0.1:{bridge.port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        include {ROOT / "deploy" / "nginx" / "bridge-locations.conf"};
    }}
}}
"""
    )
    nginx = Process(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
         str(prefix / "error.log"), "-g", "daemon off;"],
        {},
        prefix / "nginx.log",
    )  # fmt: skip
    try:
        wait_until(lambda: listening(port) or not nginx.alive(), 10, "nginx")
        assert nginx.alive(), nginx.output() + (prefix / "error.log").read_text()
        yield port
    finally:
        nginx.stop()


@pytest.mark.slow
def test_behind_the_deploy_proxy_stalled_sockets_wait_at_nginx(nginx_in_front: int) -> None:
    port = nginx_in_front
    url = f"http://127.0.0.1:{port}"
    half_head = HEAD + b"\r\nContent-Type: application/json\r\n"
    half_body = HEAD + b"\r\nContent-Length: 500\r\n\r\n" + b'{"eventId": "x'
    with stalled_sockets(port, 20, half_head), stalled_sockets(port, 20, half_body):
        time.sleep(0.5)
        for _ in range(5):
            started = time.monotonic()
            answer = requests.post(
                f"{url}/webhooks/raynet",
                json=webhook_body(),
                headers={"X-RAYNETCRM-Token": TOKEN},
                timeout=10,
            )
            assert answer.status_code == 202
            assert time.monotonic() - started < 2.0
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 404  # not for RAYNET
    assert requests.get(f"{url}/raynet/button", timeout=5).status_code == 400  # the bridge's


@pytest.mark.slow
def test_presses_while_raynet_is_slow_leave_threads_for_webhooks(
    service: Any, raynet: RaynetStandIn
) -> None:
    """Row 2: 40 presses at once with RAYNET answering in 3 s; RAYNET's next webhook is still
    answered within the 10 s it waits, and every press is answered within 10 s too."""
    running: Service = service("--no-worker")
    raynet.latency = 3.0

    def press(_: int) -> int:
        query: dict[str, str | int] = {
            "token": raynet.issue_button_token(12),
            "entityId": 1234,
            "personId": 12,
        }
        return requests.get(f"{running.url}/raynet/button", params=query, timeout=10).status_code

    with ThreadPoolExecutor(40) as pool:
        presses = [pool.submit(press, n) for n in range(40)]
        time.sleep(1.0)  # the presses hold whatever threads they can get
        assert running.post(webhook_body()).status_code == 202  # requests' timeout: 10 s
        assert [answer.result() for answer in presses] == [200] * 40


@pytest.mark.slow
def test_a_report_upload_over_a_webhooks_limit_reaches_the_page(
    service: Any, won_case: dict[str, Any], company: dict[str, Any]
) -> None:
    """The served bridge's own worker lets the report page take 64 MB (a webhook 1 MB): a
    2 MB report of many orders is read, not refused with a raw 413."""
    admin = "admin-token-0123456789abcdef"
    running: Service = service("--no-worker", ADMIN_TOKEN=admin)
    web = requests.Session()
    login = web.post(
        f"{running.url}/admin/login", data={"token": admin, "name": "Jana"}, timeout=10
    )
    assert login.ok
    csrf = re.search(r'name="csrf" value="([^"]+)"', web.get(f"{running.url}/admin/reports").text)
    assert csrf is not None
    report = etree.fromstring(
        MoneyS3StandIn().import_document("f.xml", order_file(won_case, company))
    )
    listing = report.find("SeznamObjPrij")
    assert listing is not None
    one = listing[0]
    for _ in range(800):
        listing.append(copy.deepcopy(one))
    document = etree.tostring(report, xml_declaration=True, encoding="UTF-8")
    assert len(document) > 2 * 1024 * 1024
    answer = web.post(
        f"{running.url}/admin/reports",
        data={"csrf": csrf[1]},
        files=[("report", ("protokol.xml", document, "text/xml"))],
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text[:200]
    assert "protokol.xml" in web.get(f"{running.url}/admin/reports").text
    assert running.post(b"x" * (1024 * 1024 + 10)).status_code == 413  # a webhook still not
