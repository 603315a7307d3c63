"""Several RAYNET instances served by one deployment (BRIDGE_CONFIG), kept apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from tests.servers import bridge, free_port, listening, wait_until
from tests.support import share, webhook_body, xsd_dir
from webhook.errors import ConfigError
from webhook.ops.cli import main
from webhook.ops.console import EXIT_CONFIG
from webhook.raynet.standin import RaynetStandIn
from webhook.settings.instances import load_instances
from webhook.web import create_app
from webhook.web.registry import EXTENSION

TOKEN_A = "token-of-instance-a-0123456789"
TOKEN_B = "token-of-instance-b-0123456789"


@pytest.fixture
def two_crms(
    won_case: dict[str, Any], company: dict[str, Any]
) -> Iterator[tuple[RaynetStandIn, RaynetStandIn]]:
    """Two RAYNET instances, each with a case 1234 of its own."""
    with RaynetStandIn(instance="firma-a") as a, RaynetStandIn(instance="firma-b") as b:
        for api, code in ((a, "A-24-001"), (b, "B-24-001")):
            api.add_case({**won_case, "code": code})
            api.add_company(company)
        yield a, b


def bridge_config(tmp_path: Path, a: RaynetStandIn, b: RaynetStandIn) -> Path:
    path = tmp_path / "bridge.toml"
    tables = []
    for name, api, token in (("a", a, TOKEN_A), ("b", b, TOKEN_B)):
        share(tmp_path / name / "exports")
        tables.append(f"""
[instances.{name}]
WEBHOOK_TOKEN = "{token}"
RAYNET_API_URL = "{api.url}"
RAYNET_USERNAME = "{api.username}"
RAYNET_API_KEY = "${{KEY_{name.upper()}}}"
RAYNET_INSTANCE = "{api.instance}"
STATE_DB = "{tmp_path / name / "state.db"}"
EXPORT_TARGET = "{tmp_path / name / "exports"}"
MONEY_S3_STOCK = {"true" if name == "b" else "false"}
MONEY_S3_WAREHOUSE = "HL"
MONEY_S3_ORDER_PREFIX = "{name.upper()}"
""")
    path.write_text("".join(tables))
    return path


@pytest.fixture
def environment(
    tmp_path: Path, two_crms: tuple[RaynetStandIn, RaynetStandIn], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    a, b = two_crms
    env = {
        "BRIDGE_CONFIG": str(bridge_config(tmp_path, a, b)),
        "KEY_A": a.api_key,
        "KEY_B": b.api_key,
        "MONEY_S3_XSD_DIR": str(xsd_dir()),
        "WORKER_POLL_SECONDS": "0.05",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_each_instance_has_its_own_path_token_state_and_target(
    environment: dict[str, str], tmp_path: Path, two_crms: tuple[RaynetStandIn, RaynetStandIn]
) -> None:
    instances = load_instances()
    assert set(instances) == {"a", "b"}
    assert instances["b"].export_options().stock  # b uses the stock variant
    app = create_app()
    client = app.test_client()
    assert (
        client.post(
            "/webhooks/raynet/a", json=webhook_body(), headers={"X-RAYNETCRM-Token": TOKEN_A}
        ).status_code
        == 202
    )
    assert (
        client.post(
            "/webhooks/raynet/b", json=webhook_body(), headers={"X-RAYNETCRM-Token": TOKEN_A}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/webhooks/raynet/b", json=webhook_body(), headers={"X-RAYNETCRM-Token": TOKEN_B}
        ).status_code
        == 202
    )
    assert (
        client.post(
            "/webhooks/raynet", json=webhook_body(), headers={"X-RAYNETCRM-Token": TOKEN_A}
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/webhooks/raynet/c", json=webhook_body(), headers={"X-RAYNETCRM-Token": TOKEN_A}
        ).status_code
        == 404
    )
    for name in ("a", "b"):
        worker = app.extensions[EXTENSION][name].button
        while worker.run_once():
            pass
    a_files = sorted(p.name for p in (tmp_path / "a" / "exports").iterdir())
    b_files = sorted(p.name for p in (tmp_path / "b" / "exports").iterdir())
    assert (a_files, b_files) == (["A-24-001.xml"], ["B-24-001.xml"])
    assert b"<KmKarta>" in (tmp_path / "b" / "exports" / "B-24-001.xml").read_bytes()
    assert b"<KmKarta>" not in (tmp_path / "a" / "exports" / "A-24-001.xml").read_bytes()
    a, b = two_crms
    assert all(r.headers["x-instance-name"] == "firma-a" for r in a.requests)
    assert all(r.headers["x-instance-name"] == "firma-b" for r in b.requests)
    ready = client.get("/readyz").json
    assert ready is not None
    assert set(ready["checks"]) == {
        f"{name}: {check}"
        for name in ("a", "b")
        for check in ("state_store", "export_target", "worker")
    }
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_cases{instance="a",state="exported"} 1.0' in metrics
    assert 'bridge_cases{instance="b",state="exported"} 1.0' in metrics


def test_the_button_of_each_instance_has_its_own_url(
    environment: dict[str, str], tmp_path: Path, two_crms: tuple[RaynetStandIn, RaynetStandIn]
) -> None:
    a, b = two_crms
    client = create_app().test_client()
    for name, api, code in (("a", a, "A-24-001"), ("b", b, "B-24-001")):
        answer = client.get(
            f"/raynet/button/{name}",
            query_string={
                "token": api.issue_button_token(12),
                "entityId": 1234,
                "personId": 12,  # the owner of case 1234
            },
        ).json
        assert answer == {"success": True, "message": f"Exportováno do Money S3 jako {code}.xml."}
    assert client.get("/raynet/button/c", query_string={"token": "x"}).status_code == 404


def test_commands_need_to_know_which_instance(environment: dict[str, str]) -> None:
    runner = CliRunner()
    unclear = runner.invoke(main, ["status"], env=environment)
    assert unclear.exit_code == EXIT_CONFIG
    assert "choose one with --instance NAME" in unclear.stderr
    clear = runner.invoke(main, ["--instance", "b", "status"], env=environment)
    assert "state.db does not exist" in clear.stderr  # b's own, not a's: no state yet
    wrong = runner.invoke(main, ["--instance", "z", "status"], env=environment)
    assert "no such instance (configured: a, b)" in wrong.stderr


def write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return {"BRIDGE_CONFIG": str(path)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[instances.a]\nWEBHOOK_TOKEN = "tttttttttttttttt1"\nSTATE_DB = "/tmp/s.db"\n'
            '[instances.b]\nWEBHOOK_TOKEN = "tttttttttttttttt2"\nSTATE_DB = "/tmp/s.db"\n',
            "share STATE_DB",
        ),
        (
            '[instances.a]\nWEBHOOK_TOKEN = "same-token-for-both"\nSTATE_DB = "/tmp/a.db"\n'
            'EXPORT_TARGET = "/tmp/a"\n'
            '[instances.b]\nWEBHOOK_TOKEN = "same-token-for-both"\nSTATE_DB = "/tmp/b.db"\n'
            'EXPORT_TARGET = "/tmp/b"\n',
            "share WEBHOOK_TOKEN",
        ),
        ('[instances.a]\nRAYNET_API_KEY = "${NOT_THERE}"\n', "the environment has no NOT_THERE"),
        ('[instances.a]\nADMIN_TOKEN = "xxxxxxxxxxxxxxxxxxxx"\n', "shared by all instances"),
        ('[instances.A_B]\nWEBHOOK_TOKEN = "x"\n', "lower-case letters"),
        ('[instances.a]\nMONEY_S3_STOCK = "maybe"\n', "[instances.a] invalid configuration"),
        (
            '[instances.a]\nWEBHOOK_TOKEN = "tttttttttttttttt1"\nSTATE_DB = "/tmp/a.db"\n'
            'EXPORT_TARGET = "/tmp/a"\n'
            '[instances.b]\nWEBHOOK_TOKEN = "tttttttttttttttt2"\nSTATE_DB = "/tmp/b.db"\n'
            'EXPORT_TARGET = "/tmp/b"\n',
            "share MONEY_S3_ORDER_PREFIX",
        ),
        ("not toml at all [", "not valid TOML"),
        ("[other]\nx = 1\n", "no [instances.<name>] tables"),
    ],
)
def test_bridge_config_refusals(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_instances(write(tmp_path, text))


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BRIDGE_CONFIG: cannot read"):
        load_instances({"BRIDGE_CONFIG": str(tmp_path / "nowhere.toml")})


@pytest.mark.slow
def test_serve_exports_for_every_instance(environment: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    service = bridge(["serve", "--port", str(port)], environment, tmp_path / "serve.log")
    try:
        wait_until(lambda: listening(port), 30, "gunicorn")
        for name, token in (("a", TOKEN_A), ("b", TOKEN_B)):
            answer = requests.post(
                f"http://127.0.0.1:{port}/webhooks/raynet/{name}",
                json=webhook_body(),
                headers={"X-RAYNETCRM-Token": token},
                timeout=5,
            )
            assert answer.status_code == 202
        for path in (
            tmp_path / "a" / "exports" / "A-24-001.xml",
            tmp_path / "b" / "exports" / "B-24-001.xml",
        ):
            wait_until(path.exists, 20, str(path))
    finally:
        assert service.stop() == 0


def test_the_dashboard_switches_between_instances(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", "admin-token-0123456789")
    app = create_app()
    client = app.test_client()
    client.post("/webhooks/raynet/b", json=webhook_body(), headers={"X-RAYNETCRM-Token": TOKEN_B})
    assert client.post("/admin/login", data={"token": "admin-token-0123456789"}).status_code == 302
    page_b = client.get("/admin/?instance=b").get_data(as_text=True)
    assert "case-1234" in page_b
    assert 'href="/admin/cases/1234?instance=b"' in page_b  # links stay with b
    assert "case-1234" not in client.get("/admin/?instance=a").get_data(as_text=True)
    headers = {"Authorization": "Bearer admin-token-0123456789"}
    listed = client.get("/admin/api/cases?instance=b", headers=headers).json
    assert listed is not None
    assert [case["case_id"] for case in listed["cases"]] == [1234]


SQS_INSTANCE = """
[instances.{name}]
WEBHOOK_TOKEN = "token-{name}-0123456789abcdef"
QUEUE_URL = "https://sqs.eu-central-1.amazonaws.com/1/{name}.fifo"
STATE_TABLE = "{table}"
EXPORT_TARGET = "s3://orders/{name}"
MONEY_S3_ORDER_PREFIX = "{name}"
"""


def test_sqs_instances_are_kept_apart_by_their_queue_and_table(tmp_path: Path) -> None:
    apart = SQS_INSTANCE.format(name="a", table="cases-a") + SQS_INSTANCE.format(
        name="b", table="cases-b"
    )
    assert set(load_instances(write(tmp_path, apart))) == {"a", "b"}  # no state file needed
    shared = SQS_INSTANCE.format(name="a", table="cases") + SQS_INSTANCE.format(
        name="b", table="cases"
    )
    with pytest.raises(ConfigError, match="share STATE_TABLE"):
        load_instances(write(tmp_path, shared))
