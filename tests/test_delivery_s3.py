"""The S3 target against a real S3 API over HTTP (moto server on 127.0.0.1)."""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import pytest

from tests.harness import Harness
from tests.servers import free_port, moto_server
from tests.support import S3Bucket, s3_environment
from webhook.delivery.s3 import S3Target
from webhook.delivery.target import DeliveryUnavailable
from webhook.moneys3.validation import DocumentValidator
from webhook.raynet.standin import RaynetStandIn


def test_publish_creates_once_with_type_and_metadata(bucket: S3Bucket) -> None:
    target = S3Target(bucket.name, "raynet/orders")
    first = target.publish("OP-1.xml", b"<first/>", {"raynet-case-id": "7", "sha256": "ab"})
    assert first.created
    assert first.location == f"s3://{bucket.name}/raynet/orders/OP-1.xml"
    second = target.publish("OP-1.xml", b"<second/>", {})
    assert not second.created
    assert target.read("OP-1.xml") == b"<first/>"
    head = bucket.client.head_object(Bucket=bucket.name, Key="raynet/orders/OP-1.xml")
    assert head["ContentType"] == "application/xml"
    assert head["Metadata"] == {"raynet-case-id": "7", "sha256": "ab"}


def test_racing_writers_leave_exactly_one_object(bucket: S3Bucket) -> None:
    target = S3Target(bucket.name)
    results: list[bool] = []
    barrier = threading.Barrier(12)

    def publish(number: int) -> None:
        barrier.wait()
        results.append(target.publish("race.xml", f"<w n='{number}'/>".encode(), {}).created)

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 11 + [True]


def test_server_side_encryption_is_requested(bucket: S3Bucket) -> None:
    S3Target(bucket.name, sse="AES256").publish("enc.xml", b"<x/>", {})
    head = bucket.client.head_object(Bucket=bucket.name, Key="enc.xml")
    assert head["ServerSideEncryption"] == "AES256"


def test_read_missing_and_check(bucket: S3Bucket) -> None:
    target = S3Target(bucket.name)
    with pytest.raises(FileNotFoundError):
        target.read("nope.xml")
    target.check()
    with pytest.raises(DeliveryUnavailable, match="not usable"):
        S3Target("no-such-bucket-here").check()


def test_unreachable_store_is_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3_environment(f"http://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(DeliveryUnavailable, match="cannot reach S3"):
        S3Target("bucket").publish("a.xml", b"<a/>", {})


def test_won_case_lands_in_the_bucket(
    raynet: RaynetStandIn, tmp_path: Path, bucket: S3Bucket, validator: DocumentValidator
) -> None:
    harness = Harness(raynet, tmp_path, EXPORT_TARGET=f"s3://{bucket.name}/money-s3")
    harness.webhook()
    assert harness.drain() == "exported"
    body = bucket.client.get_object(Bucket=bucket.name, Key="money-s3/OP-24-057.xml")["Body"]
    validator.validate(body.read())
    record = harness.records.case(1234)
    assert record is not None
    assert record.location == f"s3://{bucket.name}/money-s3/OP-24-057.xml"


def test_store_down_for_a_while_then_back(
    raynet: RaynetStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    validator: DocumentValidator,
) -> None:
    port = free_port()
    for name, value in s3_environment(f"http://127.0.0.1:{port}").items():
        monkeypatch.setenv(name, value)
    harness = Harness(
        raynet, tmp_path, EXPORT_TARGET="s3://late-bucket/orders", WORKER_MAX_ATTEMPTS="50"
    )
    harness.webhook()
    assert harness.drain() == "failed"  # nothing listens on the port yet
    record = harness.records.case(1234)
    assert record is not None
    assert "cannot reach S3" in (record.reason or "")
    server = moto_server(port, tmp_path / "late-moto.log")
    try:
        client = boto3.client("s3")
        client.create_bucket(
            Bucket="late-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        assert harness.drain(until_state="exported") == "exported"
        validator.validate(
            client.get_object(Bucket="late-bucket", Key="orders/OP-24-057.xml")["Body"].read()
        )
    finally:
        server.stop()
