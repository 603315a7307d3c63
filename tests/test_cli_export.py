"""Manual export: ``python -m webhook export`` (from the API) and ``render`` (offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.harness import Harness
from tests.support import ROOT, share
from webhook.moneys3.validation import DocumentValidator
from webhook.ops.cli import main
from webhook.ops.console import EXIT_CONFIG, EXIT_FAILED, EXIT_NOT_EXPORTABLE
from webhook.ops.demo import CASE_FILE, COMPANY_FILE
from webhook.raynet.standin import RaynetStandIn


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_export_writes_a_valid_file_and_a_second_export_never_overwrites(
    raynet: RaynetStandIn, tmp_path: Path, validator: DocumentValidator
) -> None:
    env = raynet.environment()
    first = run(["export", "1234", "--output", str(tmp_path)], env)
    assert first.exit_code == 0, first.output
    assert f"exported OP-24-057 to {tmp_path / 'OP-24-057.xml'}" in first.output
    validator.validate((tmp_path / "OP-24-057.xml").read_bytes())
    before = (tmp_path / "OP-24-057.xml").read_bytes()
    second = run(["export", "1234", "--output", str(tmp_path)], env)
    assert second.exit_code == 0, second.output
    assert (tmp_path / "OP-24-057.xml").read_bytes() == before
    assert (tmp_path / "OP-24-057+2.xml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OP-24-057+2.xml", "OP-24-057.xml"]


def test_export_to_stdout_in_the_stock_variant(raynet: RaynetStandIn) -> None:
    env = {**raynet.environment(), "MONEY_S3_WAREHOUSE": "HL"}
    result = run(["export", "1234", "--stock", "--output", "-"], env)
    assert result.exit_code == 0, result.output
    root = etree.fromstring(result.stdout_bytes)
    assert root.findtext(".//Polozka/KmKarta/Katalog") == "MON-24"
    assert root.findtext(".//Polozka/Sklad/KodSkladu") == "HL"
    without = run(["export", "1234", "--stock", "--output", "-"], raynet.environment())
    assert without.exit_code == 0, without.output
    root = etree.fromstring(without.stdout_bytes)
    assert root.findtext(".//Polozka/KmKarta/Katalog") == "MON-24"
    assert root.find(".//Polozka/Sklad") is None  # the import definition's warehouse


def test_an_export_into_the_export_target_is_recorded_like_the_services(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    """The dashboard, the inbox, e-mail and write-back hear of it: it goes through the
    state (a second one is the case's next file, as ``replay --again``)."""
    env = {
        **raynet.environment(),
        "EXPORT_TARGET": share(tmp_path / "accountant"),
        "STATE_DB": str(tmp_path / "state.db"),
    }
    first = run(["export", "1234"], env)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "accountant" / "OP-24-057.xml").is_file()
    second = run(["export", "1234"], env)
    assert second.exit_code == 0, second.output
    harness = Harness(raynet, tmp_path, EXPORT_TARGET=share(tmp_path / "accountant"))
    assert [e.file_name for e in harness.records.exports_of(1234)] == [
        "OP-24-057.xml",
        "OP-24-057+2.xml",
    ]
    assert [d.export.file_name for d in harness.records.deliveries(0)] == [
        "OP-24-057+2.xml",
        "OP-24-057.xml",
    ]
    kinds = {item.kind.value for item in harness.state.outbox.of_case(1234)}
    assert {"raynet_ext_id", "raynet_post"} <= kinds  # the running worker does them


def test_render_into_the_export_target_is_refused_and_swapped_files_are_named(
    tmp_path: Path,
) -> None:
    env = {"EXPORT_TARGET": str(tmp_path)}
    into = run(["render", str(CASE_FILE), str(COMPANY_FILE)], env)
    assert into.exit_code == EXIT_CONFIG
    assert "give --output DIR or '-'" in into.stderr
    assert list(tmp_path.iterdir()) == []
    swapped = run(["render", str(COMPANY_FILE), str(CASE_FILE), "-o", "-"], {})
    assert swapped.exit_code == EXIT_FAILED
    assert swapped.stderr.count("\n") == 1
    assert "give the business case first, then its company" in swapped.stderr


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "B_ACTIVE"}, "the deal is not won (status B_ACTIVE)"),
        ({"items": []}, "the deal has no products"),
    ],
)
def test_not_exportable_case_exits_3_with_one_line(
    raynet: RaynetStandIn,
    won_case: dict[str, Any],
    tmp_path: Path,
    change: dict[str, Any],
    reason: str,
) -> None:
    raynet.add_case({**won_case, **change})
    result = run(["export", "1234", "--output", str(tmp_path)], raynet.environment())
    assert result.exit_code == EXIT_NOT_EXPORTABLE
    assert result.stderr == f"error: OP-24-057 not exported: {reason}\n"
    assert list(tmp_path.iterdir()) == []


def test_wrong_credentials_exit_1_naming_the_variables(
    raynet: RaynetStandIn, tmp_path: Path
) -> None:
    env = {**raynet.environment(), "RAYNET_API_KEY": "not-the-key"}
    result = run(["export", "1234", "--output", str(tmp_path)], env)
    assert result.exit_code == EXIT_FAILED
    assert "RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE" in result.stderr
    assert "not-the-key" not in result.stderr
    assert len(raynet.requests) == 1


def test_missing_configuration_exit_2(raynet: RaynetStandIn, tmp_path: Path) -> None:
    result = run(["export", "1234", "--output", str(tmp_path)], {})
    assert result.exit_code == EXIT_CONFIG
    assert "set RAYNET_USERNAME, RAYNET_API_KEY and RAYNET_INSTANCE" in result.stderr
    bad = run(["export", "1234"], {**raynet.environment(), "MONEY_S3_STOCK": "maybe"})
    assert bad.exit_code == EXIT_CONFIG
    assert "MONEY_S3_STOCK must be 0 or 1" in bad.stderr


def test_render_offline_from_saved_responses(tmp_path: Path, validator: DocumentValidator) -> None:
    result = run(
        [
            "render",
            str(CASE_FILE),
            str(COMPANY_FILE),
            "--output",
            str(tmp_path),
        ],
        {},
    )
    assert result.exit_code == 0, result.output
    validator.validate((tmp_path / "OP-24-057.xml").read_bytes())


def test_render_refuses_unreadable_input(tmp_path: Path) -> None:
    broken = tmp_path / "case.json"
    broken.write_text("{not json")
    result = run(["render", str(broken), str(COMPANY_FILE), "-o", "-"], {})
    assert result.exit_code == EXIT_FAILED
    assert result.stderr.startswith(f"error: {broken}: not JSON")
    missing = run(["render", str(tmp_path / "nope.json"), str(COMPANY_FILE), "-o", "-"], {})
    assert missing.exit_code == EXIT_FAILED
    assert missing.stderr.strip().endswith("nope.json: no such file or folder")


def test_xsd_validation_before_writing_when_configured(tmp_path: Path) -> None:
    env = {"MONEY_S3_XSD_DIR": str(tmp_path / "nowhere")}
    result = run(
        [
            "render",
            str(CASE_FILE),
            str(COMPANY_FILE),
            "-o",
            "-",
        ],
        env,
    )
    assert result.exit_code == EXIT_CONFIG
    assert "MONEY_S3_XSD_DIR" in result.stderr


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "webhook",
            "render",
            str(CASE_FILE),
            str(COMPANY_FILE),
            "--output",
            "-",
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
    assert b"<PrimDoklad>OP-24-057</PrimDoklad>" in completed.stdout


def test_status_shows_states_events_and_cases(raynet: RaynetStandIn, tmp_path: Path) -> None:
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    harness.webhook()
    harness.drain()
    result = run(["status"], {"STATE_DB": str(tmp_path / "state.db")})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "pending 0  exported 1  skipped 0  failed 0  dead 0"
    assert lines[1] == (  # the external id and the post in RAYNET wait for a worker
        "webhook events on record (30 days): 2; follow-ups (e-mail, write-back) pending 2"
    )
    assert lines[2].split() == [
        "1234",
        "OP-24-057",
        "exported",
        str(tmp_path / "exports" / "OP-24-057.xml"),
    ]


def test_status_shows_what_raynet_sent_escaped_even_through_a_pipe(
    raynet: RaynetStandIn, tmp_path: Path, won_case: dict[str, Any]
) -> None:
    """A case code with a line break, an OSC sequence (retitles a terminal) and a
    direction override stays on its one line, each as an escape."""
    hostile = "OP\r\n1\x1b]0;pwned\x07\u202eX"
    raynet.add_case({**won_case, "status": "E_LOST", "code": hostile})
    harness = Harness(raynet, tmp_path)
    harness.webhook()
    assert harness.drain() == "skipped"
    completed = subprocess.run(
        [sys.executable, "-m", "webhook", "status"],
        env={"STATE_DB": str(tmp_path / "state.db"), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    line = completed.stdout.decode().splitlines()[-1]
    assert line.split()[:2] == ["1234", "OP\\r\\n1\\x1b]0;pwned\\x07\\u202eX"]
    assert not any(char in completed.stdout for char in b"\r\x1b\x07")


def test_status_of_a_state_file_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "state.db"
    result = CliRunner().invoke(main, ["status"], env={"STATE_DB": str(missing)})
    assert result.exit_code == EXIT_CONFIG
    assert result.output.count("\n") == 1
    assert "does not exist" in result.output
    assert not missing.parent.exists()
