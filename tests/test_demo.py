"""``python -m webhook demo``: the whole flow on sample data, with no configuration at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, XSD_DIR
from webhook.moneys3.validation import DocumentValidator


def demo(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", "demo", "--output", str(tmp_path / "exports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "MONEY_S3_XSD_DIR": str(XSD_DIR)},
    )


def test_demo_leaves_a_valid_order_and_says_what_happened(
    tmp_path: Path, validator: DocumentValidator
) -> None:
    first = demo(tmp_path)
    assert first.returncode == 0, first.stderr
    exported = tmp_path / "exports" / "OP-24-057.xml"
    validator.validate(exported.read_bytes())
    steps = [line for line in first.stdout.splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    assert len(steps) == 4
    assert "202 accepted" in steps[1]
    assert f"wrote it: {exported}" in steps[2]
    assert "valid against Money S3's schema" in steps[3]
    assert first.stderr == ""
    again = demo(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already there from an earlier run" in again.stdout
    assert sorted(p.name for p in exported.parent.iterdir()) == ["OP-24-057.xml"]
