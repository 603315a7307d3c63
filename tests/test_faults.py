"""Faults the machine or an operator brings: a deleted or damaged state file, a full or
unmounted export folder, a worker thread that dies, RAYNET text that breaks e-mail headers.
Through real processes wherever the fault was seen in one."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from click.testing import CliRunner

from tests.harness import Harness
from tests.servers import (
    ONE_HTTP_WORKER,
    Inbox,
    Process,
    Service,
    create_aws_resources,
    free_port,
    moto_server,
    run_bridge,
    wait_until,
)
from tests.support import TOKEN, TestClock, s3_environment, webhook_body
from webhook.ops.cli import main
from webhook.raynet.standin import RaynetStandIn
from webhook.state.model import CaseState
from webhook.state.sqlite import open_state
from webhook.web import create_app, probes
from webhook.web.probes import PROBE_SECONDS
from webhook.wording import one_line
from webhook.worker.chores import HEARTBEAT_FLAG
from webhook.worker.loop import InstanceWorker, run_workers


def ready(running: Service) -> requests.Response:
    return requests.get(f"{running.url}/readyz", timeout=10)


def target_named(running: Service, words: str) -> Callable[[], bool]:
    """Whether readyz is 503 with ``words`` in its export target check: the worker's first
    look at the target comes a moment after the service answers."""

    def named() -> bool:
        check = ready(running)
        return check.status_code == 503 and words in check.json()["checks"]["export_target"]

    return named


@pytest.mark.slow
def test_a_deleted_state_file_is_503_not_a_202_into_nothing(
    service: Any, env: dict[str, str]
) -> None:
    running: Service = service("--no-worker", *ONE_HTTP_WORKER)
    assert running.post(webhook_body()).status_code == 202
    Path(env["STATE_DB"]).unlink()
    answers = [running.post(webhook_body()).status_code for _ in range(5)]
    assert answers == [503] * 5  # RAYNET retries; nothing was promised and lost
    check = ready(running)
    assert check.status_code == 503
    assert "was deleted while the bridge ran" in check.json()["checks"]["state_store"]
    metrics = requests.get(f"{running.url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert 'bridge_state_available{instance=""} 0.0' in metrics.text


@pytest.mark.slow
def test_a_damaged_state_file_is_503_and_status_says_so_in_one_line(
    service: Any, env: dict[str, str]
) -> None:
    running: Service = service("--no-worker", *ONE_HTTP_WORKER)
    assert running.post(webhook_body()).status_code == 202
    with Path(env["STATE_DB"]).open("r+b") as state:  # damaged in place: the same file
        state.write(b"this is no database" * 300)
    assert running.post(webhook_body()).status_code == 503
    assert ready(running).status_code == 503
    status = run_bridge(["status"], env)
    assert status.returncode == 1
    assert status.stderr.count("\n") == 1, status.stderr  # one line, no traceback
    assert "is damaged: not a SQLite file any more" in status.stderr


@pytest.mark.slow
def test_damaged_pages_inside_the_state_file_make_readyz_503(
    service: Any, env: dict[str, str]
) -> None:
    """The header intact, the tables webhooks write damaged: the probe writes there."""
    running: Service = service("--no-worker", *ONE_HTTP_WORKER)
    assert running.post(webhook_body()).status_code == 202
    assert ready(running).json()["checks"]["state_store"] == "ok"
    with closing(sqlite3.connect(env["STATE_DB"])) as other:
        page = other.execute("PRAGMA page_size").fetchone()[0]
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
    with Path(env["STATE_DB"]).open("r+b") as state:
        for number in (2, 4):
            state.seek((number - 1) * page)
            state.write(b"\xa5" * page)
    time.sleep(PROBE_SECONDS)  # a finding that old may be reported again unchecked
    assert running.post(webhook_body()).status_code == 503
    check = ready(running)
    assert check.status_code == 503
    assert "malformed" in check.json()["checks"]["state_store"]
    metrics = requests.get(f"{running.url}/metrics", timeout=10).text
    assert 'bridge_state_available{instance=""} 0.0' in metrics


@pytest.mark.slow
def test_a_state_file_another_process_holds_is_503_inside_raynets_10_s(
    service: Any, env: dict[str, str]
) -> None:
    """An ``sqlite3`` shell (or a backup) holds the file exclusively for 30 s: every webhook
    gets its 503 and Retry-After well inside RAYNET's 10 s, ``/healthz`` at once; when the
    holder lets go, webhooks are stored again with no restart."""
    running: Service = service("--no-worker")
    assert running.post(webhook_body()).status_code == 202
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_EXCLUSIVELY, env["STATE_DB"]], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"

        def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
            started = time.monotonic()
            answer = call()
            return answer, time.monotonic() - started

        with ThreadPoolExecutor(10) as pool:
            webhooks = [pool.submit(timed, partial(running.post, webhook_body())) for _ in range(8)]
            health = pool.submit(timed, partial(requests.get, f"{running.url}/healthz", timeout=10))
            answers = [future.result() for future in webhooks]
            alive, alive_after = health.result()
        assert [answer.status_code for answer, _ in answers] == [503] * 8
        assert all(answer.headers["Retry-After"] for answer, _ in answers)
        assert max(waited for _, waited in answers) < 8.0, answers
        assert alive.status_code == 200
        assert alive_after < 8.0
        assert holder.poll() is None  # still held throughout
    finally:
        holder.kill()
        holder.communicate()
    assert running.post(webhook_body()).status_code == 202


HOLD_EXCLUSIVELY = """
import sqlite3, sys, time
held = sqlite3.connect(sys.argv[1], isolation_level=None)
held.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
time.sleep(30)
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MB file system (tmpfs) for the export folder."""
    folder = tmp_path / "share"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"these tests mount a tmpfs (as root): {mounted.stderr}"
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.slow
def test_a_full_export_folder_pauses_exports_instead_of_killing_cases(
    service: Any, small_disk: Path
) -> None:
    running: Service = service(EXPORT_TARGET=str(small_disk))
    wait_until(target_named(running, "KB free"), 15, "readyz to name the full export folder")
    assert running.post(webhook_body()).status_code == 202
    time.sleep(2)
    assert list(small_disk.iterdir()) == []
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    wait_until((small_disk / "OP-24-057.xml").exists, 30, "the file, once room is back")
    assert ready(running).status_code == 200


@pytest.mark.slow
def test_an_unmounted_share_is_never_created_on_the_local_disk(
    service: Any, env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "mnt" / "ucetni"
    result = CliRunner().invoke(main, ["check"], env={**env, "EXPORT_TARGET": str(missing)})
    assert result.exit_code == 1
    assert "FAIL  export target: EXPORT_TARGET" in result.output
    assert "does not exist (is the share mounted?)" in result.output
    running: Service = service(EXPORT_TARGET=str(missing))
    assert running.post(webhook_body()).status_code == 202
    time.sleep(2)
    assert not missing.exists()
    wait_until(target_named(running, "does not exist"), 15, "readyz to name the missing share")


@pytest.mark.slow
def test_raynet_text_that_breaks_e_mail_headers_breaks_nothing(
    service: Any,
    env: dict[str, str],
    raynet: RaynetStandIn,
    won_case: dict[str, Any],
    smtp: tuple[int, Inbox],
) -> None:
    """A case code with a line separator used to raise while the e-mail was built, outside
    any error handling: the worker died, restarted, and claimed the e-mail again."""
    port, inbox = smtp
    raynet.add_case({**won_case, "id": 5, "code": "OP-24\u2028057"})
    running: Service = service(
        SMTP_URL=f"smtp://127.0.0.1:{port}", NOTIFY_EMAIL="ucetni@firma.cz", REPORT_HOUR="off"
    )
    assert running.post(webhook_body(case_id=5)).status_code == 202
    state = open_state(Path(env["STATE_DB"]), TestClock())

    def refused() -> bool:
        found = state.records.case(5)
        return found is not None and found.state == CaseState.DEAD

    wait_until(refused, 20, "case 5 refused")
    record = state.records.case(5)
    assert record is not None
    assert "line breaks" in (record.reason or "")
    assert running.post(webhook_body(case_id=1234)).status_code == 202
    wait_until(lambda: len(inbox.messages) == 1, 20, "the e-mail of the next case")
    assert inbox.messages[0]["Subject"] == "Objednávka z RAYNET CRM: OP-24-057"
    assert "worker exited" not in running.process.output()


def test_e_mail_header_text_is_one_line() -> None:
    assert one_line("OP-24\u2028057\r\nBcc: x@y.cz\x00\t") == "OP-24 057 Bcc: x@y.cz"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_worker_thread_is_started_again_and_counted(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    harness = Harness(raynet, tmp_path)
    crashes: list[int] = []

    class CrashesOnce(InstanceWorker):
        def run(self, stop: threading.Event) -> None:
            if not crashes:
                crashes.append(1)
                raise SystemExit("a thread dying as no error handling catches")
            super().run(stop)

    service = harness.service
    crashing = CrashesOnce(service.worker, service.chores, service.follow_ups)
    harness.webhook()
    stop = threading.Event()
    supervisor = threading.Thread(target=run_workers, args=([crashing], stop))
    supervisor.start()
    try:
        wait_until(lambda: harness.state_of() == "exported", 20, "the export after a restart")
    finally:
        stop.set()
        supervisor.join(timeout=10)
    assert crashes == [1]
    assert harness.records.flag(HEARTBEAT_FLAG) is not None


def test_readyz_fails_while_no_worker_is_alive(
    raynet: RaynetStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probes, "PROBE_SECONDS", 0.0)  # no finding is reused
    harness = Harness(raynet, tmp_path, WEBHOOK_TOKEN=TOKEN)
    client = create_app(harness.settings).test_client()
    alone = client.get("/readyz")  # a receiver that never heard from a worker says so
    assert alone.status_code == 503
    assert alone.json is not None
    assert "no worker has ever been heard from" in alone.json["checks"]["worker"]
    harness.records.set_flag(HEARTBEAT_FLAG, repr(time.time() - 300))
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json is not None
    assert "no worker has been alive for 300 s" in stale.json["checks"]["worker"]
    harness.records.set_flag(HEARTBEAT_FLAG, repr(time.time()))
    assert client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_after_refused_credentials_replay_exports_in_the_running_service(
    service: Any, env: dict[str, str], raynet: RaynetStandIn, won_case: dict[str, Any]
) -> None:
    """RAYNET refuses the key (revoked), then accepts it again (restored): ``replay
    --all-failed`` lifts the stop and the running worker exports every case, no restart."""
    raynet.add_case({**won_case, "id": 1235, "code": "OP-24-058"})
    restored, raynet.api_key = raynet.api_key, "revoked-in-raynet"
    running: Service = service()
    for case_id in (1234, 1235):
        assert running.post(webhook_body(case_id=case_id)).status_code == 202
    records = open_state(Path(env["STATE_DB"]), time.time).records

    def states() -> list[str | None]:
        return [getattr(records.case(case_id), "state", None) for case_id in (1234, 1235)]

    wait_until(lambda: CaseState.FAILED in states(), 30, "the refused case")
    asked = len(raynet.calls("businessCase/"))
    assert asked <= 2  # the worker's threads may have asked at once, before the first 401
    time.sleep(1.5)
    assert len(raynet.calls("businessCase/")) == asked  # then nothing: the stop holds
    raynet.api_key = restored
    replayed = run_bridge(["replay", "--all-failed"], env)
    assert replayed.returncode == 0, replayed.stderr
    wait_until(lambda: states() == [CaseState.EXPORTED] * 2, 30, "both exports")
    assert sorted(path.name for path in Path(env["EXPORT_TARGET"]).glob("*.xml")) == [
        "OP-24-057.xml",
        "OP-24-058.xml",
    ]


@pytest.fixture
def own_aws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Process, dict[str, str]]]:
    """A moto server of this test's own (it will be stopped), with SQS mode's resources."""
    port = free_port()
    server = moto_server(port, tmp_path / "moto.log")
    environment = s3_environment(f"http://127.0.0.1:{port}")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    made = create_aws_resources(boto3.Session())
    try:
        yield server, {**environment, **made.environment(), "QUEUE_WAIT_SECONDS": "1"}
    finally:
        server.popen.send_signal(signal.SIGCONT)
        server.stop()


@pytest.mark.slow
@pytest.mark.aws
@pytest.mark.parametrize("mode", ["s3 target", "sqs state"])
def test_a_hung_aws_holds_no_probe_and_no_webhook_and_needs_no_restart(
    service: Any, own_aws: tuple[Process, dict[str, str]], mode: str
) -> None:
    """moto stopped (SIGSTOP): 20 parallel ``/readyz`` and a webhook each answer within
    3 s, ``/readyz`` 503 naming the check; SIGCONT: ready and storing again, no restart."""
    moto, settings = own_aws
    if mode == "s3 target":
        settings = {k: v for k, v in settings.items() if k not in ("QUEUE_URL", "STATE_TABLE")}
    running: Service = service(**settings)
    wait_until(lambda: ready(running).status_code == 200, 30, "ready")
    moto.popen.send_signal(signal.SIGSTOP)
    time.sleep(PROBE_SECONDS)  # a finding that old may be reported again unchecked
    timed_out_check = "state_store" if mode == "sqs state" else "export_target"
    with ThreadPoolExecutor(21) as pool:

        def timed(call: Callable[[], requests.Response]) -> tuple[int, float, Any]:
            started = time.monotonic()
            answer = call()
            return answer.status_code, time.monotonic() - started, answer.json()

        probes = [pool.submit(timed, partial(ready, running)) for _ in range(20)]
        webhook = pool.submit(timed, partial(running.post, webhook_body()))
        answers = [future.result() for future in probes]
        stored, stored_after, _ = webhook.result()
    assert max(after for _, after, _ in answers) < 3.0, answers
    # its own 3 s at most (two tries of DynamoDB, wiring.py), after a thread the probes
    # held 1.5 s at most
    assert stored_after < 5.0
    assert stored == (503 if mode == "sqs state" else 202)
    if mode == "sqs state":  # the S3 target's trouble shows once the worker's check ends
        assert {status for status, _, _ in answers} == {503}
        assert all(body["checks"][timed_out_check] != "ok" for _, _, body in answers)
    else:
        wait_until(
            lambda: ready(running).json()["checks"][timed_out_check] != "ok", 60, "the finding"
        )
    moto.popen.send_signal(signal.SIGCONT)
    wait_until(lambda: ready(running).status_code == 200, 60, "ready again")
    assert running.post(webhook_body()).status_code == 202
