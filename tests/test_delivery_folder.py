"""The folder target: complete files only, never a replaced one, exactly one winner."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from webhook.delivery import target_from_setting
from webhook.delivery.folder import FolderTarget
from webhook.delivery.s3 import S3Target
from webhook.delivery.target import DeliveryUnavailable


def test_publish_creates_then_reports_taken(tmp_path: Path) -> None:
    target = FolderTarget(tmp_path / "out", create=True)
    first = target.publish("A.xml", b"<first/>", {})
    assert first.created
    assert first.location == str(tmp_path / "out" / "A.xml")
    second = target.publish("A.xml", b"<second/>", {})
    assert not second.created
    assert target.read("A.xml") == b"<first/>"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["A.xml"]  # no temporaries left
    assert oct((tmp_path / "out" / "A.xml").stat().st_mode & 0o777) != "0o600"


def test_racing_publishers_produce_exactly_one_file(tmp_path: Path) -> None:
    target = FolderTarget(tmp_path)
    results: list[bool] = []
    barrier = threading.Barrier(16)

    def publish(number: int) -> None:
        barrier.wait()
        results.append(target.publish("race.xml", f"<w n='{number}'/>".encode(), {}).created)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]
    assert [p.name for p in tmp_path.iterdir()] == ["race.xml"]


def test_path_names_are_refused(tmp_path: Path) -> None:
    target = FolderTarget(tmp_path)
    for name in ("../x.xml", "a/b.xml", "..", ""):
        with pytest.raises(ValueError, match="plain file name"):
            target.publish(name, b"x", {})


def test_folder_that_is_a_file_is_a_transient_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "exports"
    blocker.write_text("not a folder")
    target = FolderTarget(blocker)
    with pytest.raises(DeliveryUnavailable, match="does not exist"):
        target.publish("A.xml", b"x", {})
    with pytest.raises(DeliveryUnavailable, match="does not exist"):
        target.check()


def test_check_passes_and_leaves_nothing(tmp_path: Path) -> None:
    FolderTarget(tmp_path).check()
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_cleaned(tmp_path: Path) -> None:
    stale = tmp_path / ".A.xml.abc.tmp"
    fresh = tmp_path / ".B.xml.def.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert FolderTarget(tmp_path).remove_stale_temporaries() == 1
    assert not stale.exists()
    assert fresh.exists()


def test_target_from_setting(tmp_path: Path) -> None:
    assert isinstance(target_from_setting(str(tmp_path)), FolderTarget)
    assert isinstance(target_from_setting(f"file://{tmp_path}"), FolderTarget)
    s3 = target_from_setting("s3://bucket/orders/raynet")
    assert isinstance(s3, S3Target)
    assert s3.description == "s3://bucket/orders/raynet/"
