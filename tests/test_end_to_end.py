"""The whole service as ops run it: ``serve`` (gunicorn + worker) and ``worker`` processes.

Webhooks go over real HTTP on 127.0.0.1 to gunicorn; RAYNET is the local stand-in; files
go to a real folder or a moto S3 bucket; processes are stopped with SIGTERM or killed with
SIGKILL.
"""

from __future__ import annotations

import copy
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.servers import ONE_HTTP_WORKER, Service, bridge, free_port, listening, wait_until
from tests.support import TOKEN, S3Bucket, TestClock, share, webhook_body
from webhook.delivery.folder import FolderTarget
from webhook.moneys3.validation import DocumentValidator
from webhook.raynet.standin import RaynetStandIn
from webhook.state.model import CaseState
from webhook.state.sqlite import open_state

pytestmark = pytest.mark.slow


def exported_count(state_db: Path) -> int:
    """Read by another process's eyes: the state file as the running service left it."""
    return open_state(state_db, TestClock()).records.counts()[CaseState.EXPORTED]


def add_won_cases(raynet: RaynetStandIn, template: dict[str, Any], count: int) -> None:
    for number in range(1, count + 1):
        case = copy.deepcopy(template)
        case["id"] = 10_000 + number
        case["code"] = f"OP-26-{number:04d}"
        raynet.add_case(case)


def test_won_case_webhook_becomes_a_file_in_the_folder(
    service: Any, tmp_path: Path, validator: DocumentValidator
) -> None:
    running = service()
    response = running.post(webhook_body())
    assert response.status_code == 202, response.text
    exported = tmp_path / "exports" / "OP-24-057.xml"
    wait_until(exported.exists, 20, "the exported file")
    validator.validate(exported.read_bytes())
    assert requests.get(f"{running.url}/readyz", timeout=5).json()["status"] == "ready"
    assert running.process.stop() == 0


def test_won_case_webhook_becomes_an_object_in_the_bucket(
    service: Any, bucket: S3Bucket, validator: DocumentValidator
) -> None:
    running = service(EXPORT_TARGET=f"s3://{bucket.name}/raynet", **bucket.env)
    assert running.post(webhook_body()).status_code == 202

    def arrived() -> bool:
        listing = bucket.client.list_objects_v2(Bucket=bucket.name, Prefix="raynet/")
        return int(listing.get("KeyCount", 0)) > 0

    wait_until(arrived, 20, "the object in the bucket")
    body = bucket.client.get_object(Bucket=bucket.name, Key="raynet/OP-24-057.xml")["Body"]
    validator.validate(body.read())


def test_duplicates_and_two_worker_processes_make_one_file(
    service: Any,
    env: dict[str, str],
    raynet: RaynetStandIn,
    won_case: dict[str, Any],
    tmp_path: Path,
) -> None:
    add_won_cases(raynet, won_case, 3)
    raynet.latency = 0.05
    running = service("--no-worker")
    repeated = webhook_body(10_001)
    answers = [running.post(repeated).status_code for _ in range(5)]
    assert answers == [202, 200, 200, 200, 200]
    for case_id in (10_001, 10_001, 10_002, 10_003):
        assert running.post(webhook_body(case_id)).status_code == 202
    workers = [bridge(["worker"], env, tmp_path / f"worker-{n}.log") for n in range(2)]
    exports = tmp_path / "exports"
    try:
        wait_until(
            lambda: exports.exists() and len(list(exports.glob("*.xml"))) == 3, 30, "three files"
        )
        wait_until(
            lambda: exported_count(Path(env["STATE_DB"])) == 3,
            10,
            "three exported cases",
        )
    finally:
        for worker in workers:
            worker.stop()
    assert sorted(p.name for p in exports.iterdir()) == [
        "OP-26-0001.xml",
        "OP-26-0002.xml",
        "OP-26-0003.xml",
    ]
    assert len(raynet.reads("businessCase/10001/")) == 1


def test_worker_killed_mid_run_still_exports_every_case_exactly_once(
    service: Any,
    env: dict[str, str],
    raynet: RaynetStandIn,
    won_case: dict[str, Any],
    tmp_path: Path,
    validator: DocumentValidator,
) -> None:
    add_won_cases(raynet, won_case, 200)
    raynet.latency = 0.01
    running = service("--no-worker")
    for number in range(1, 201):
        assert running.post(webhook_body(10_000 + number)).status_code == 202
    exports = tmp_path / "exports"

    def files() -> list[Path]:
        return sorted(exports.glob("*.xml")) if exports.exists() else []

    slow = {**env, "WORKER_THREADS": "2"}  # the kill must come mid-run
    first = bridge(["worker"], slow, tmp_path / "worker-1.log")
    wait_until(lambda: len(files()) >= 40, 60, "40 files before the crash")
    first.kill()
    assert exported_count(Path(env["STATE_DB"])) < 200, "the crash must come mid-run"
    second = bridge(["worker"], env, tmp_path / "worker-2.log")
    try:
        wait_until(
            lambda: exported_count(Path(env["STATE_DB"])) == 200,
            120,
            "all 200 exported",
            interval=0.2,
        )
    finally:
        second.stop()
    names = [path.name for path in files()]
    assert names == [f"OP-26-{n:04d}.xml" for n in range(1, 201)]
    for path in files():  # every visible file is a complete order
        validator.validate(path.read_bytes())
    leftovers = list(exports.glob(".*"))  # what the killed worker was writing, if anything
    assert all(path.name.endswith(".tmp") for path in leftovers)
    assert FolderTarget(exports).remove_stale_temporaries(now=time.time() + 7200) == len(leftovers)


def test_serve_refuses_to_start_without_token(env: dict[str, str], tmp_path: Path) -> None:
    without = {key: value for key, value in env.items() if key != "WEBHOOK_TOKEN"}
    process = bridge(["serve", "--port", str(free_port())], without, tmp_path / "serve.log")
    assert process.wait(timeout=30) == 2
    assert "WEBHOOK_TOKEN is not set" in process.output()


def test_dev_mode_runs_without_secrets_and_says_so(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "var" / "state.db"
    env = {"STATE_DB": str(state), "EXPORT_TARGET": share(tmp_path / "exports")}
    process = bridge(
        ["serve", "--dev", "--port", str(port), *ONE_HTTP_WORKER], env, tmp_path / "dev.log"
    )
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        token = (state.parent / "dev-webhook-token").read_text().strip()
        assert token in process.output()
        hint = "\n      enter it as the webhook's security token in RAYNET\n"
        assert hint in process.output()  # a line of its own, not an escaped "\n"
        assert "no RAYNET credentials" in process.output()
        url = f"http://127.0.0.1:{port}/webhooks/raynet"
        assert requests.post(url, json=webhook_body(), timeout=5).status_code == 401
        accepted = requests.post(
            url, json=webhook_body(), headers={"X-RAYNETCRM-Token": token}, timeout=5
        )
        assert accepted.status_code == 202
    finally:
        assert process.stop() == 0


def test_stopping_serve_logs_no_logging_errors(tmp_path: Path) -> None:
    """gunicorn's own lines (``[%(process)d] ... Worker exiting``) go through the logging
    module of processes where the bridge configured its logging: they must still format."""
    port = free_port()
    env = {"STATE_DB": str(tmp_path / "var" / "state.db"), "EXPORT_TARGET": share(tmp_path)}
    process = bridge(
        ["serve", "--dev", "--port", str(port), *ONE_HTTP_WORKER], env, tmp_path / "stop.log"
    )
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        # An answer: the worker has booted, so it imported webhook.wsgi and its logging.
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        assert process.stop() == 0
    output = process.output()
    assert "Worker exiting" in output  # gunicorn said goodbye, through the logging module
    assert "Logging error" not in output, output
    assert "Traceback" not in output, output


def test_dev_mode_opens_the_dashboard_with_a_generated_token(tmp_path: Path) -> None:
    """``make run`` says where the dashboard is and prints the token that opens it."""
    port = free_port()
    state = tmp_path / "var" / "state.db"
    env = {"STATE_DB": str(state), "EXPORT_TARGET": share(tmp_path / "exports")}
    process = bridge(
        ["serve", "--dev", "--port", str(port), *ONE_HTTP_WORKER], env, tmp_path / "dev.log"
    )
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        admin_token = (state.parent / "dev-admin-token").read_text().strip()
        assert len(admin_token) >= 16
        output = process.output()
        assert f"dashboard http://127.0.0.1:{port}/admin/, admin token {admin_token}" in output
        assert admin_token != (state.parent / "dev-webhook-token").read_text().strip()
        login = requests.post(
            f"http://127.0.0.1:{port}/admin/login",
            data={"token": admin_token, "name": "Jana"},
            allow_redirects=False,
            timeout=5,
        )
        assert login.status_code == 302, login.text
    finally:
        assert process.stop() == 0


@pytest.mark.parametrize("admin_token", [None, "admin-token-0123456789"])
def test_serve_says_where_the_dashboard_is_and_whether_it_is_on(
    tmp_path: Path, admin_token: str | None
) -> None:
    port = free_port()
    env = {
        "WEBHOOK_TOKEN": TOKEN,
        "STATE_DB": str(tmp_path / "var" / "state.db"),
        "EXPORT_TARGET": share(tmp_path / "exports"),
        **({"ADMIN_TOKEN": admin_token} if admin_token else {}),
    }
    process = bridge(
        ["serve", "--no-worker", "--port", str(port), *ONE_HTTP_WORKER], env, tmp_path / "s.log"
    )
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        output = process.output()
    finally:
        assert process.stop() == 0
    assert f"listening on http://127.0.0.1:{port}/webhooks/raynet" in output
    dashboard = f"dashboard http://127.0.0.1:{port}/admin/"
    if admin_token is None:
        assert f"{dashboard}: off until ADMIN_TOKEN (16+ characters) is set" in output
    else:
        assert f"{dashboard}: log in with ADMIN_TOKEN" in output
        assert admin_token not in output  # a configured secret is never printed
    assert not (tmp_path / "var" / "dev-admin-token").exists()  # only --dev makes one


def raw_http(port: int, payload: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(payload)
        status_line = connection.recv(200).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_broken_http_never_gets_a_5xx(service: Any) -> None:
    running: Service = service("--no-worker")
    port = running.port
    garbage = raw_http(port, b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n")
    assert 400 <= garbage < 500
    big = raw_http(
        port,
        b"POST /webhooks/raynet HTTP/1.1\r\nHost: x\r\nX-RAYNETCRM-Token: "
        + TOKEN.encode()
        + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000\r\n\r\n{",
    )
    assert big == 413
    chunked = raw_http(
        port,
        b"POST /webhooks/raynet HTTP/1.1\r\nHost: x\r\nX-RAYNETCRM-Token: "
        + TOKEN.encode()
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n0\r\n\r\n',
    )
    assert chunked == 200  # authenticated, not an event: ignored and kept, never retried
    assert running.post(b"\x00\x01\x02").status_code == 200
    assert running.post(b"\x00\x01\x02", token="wrong").status_code == 401
