"""Delivery to an S3 bucket (AWS or any S3-compatible store).

``put_object`` with ``IfNoneMatch='*'`` creates the object only if the key is free: 412
means it is already there, 409 means a concurrent write is in flight (retry later).
Credentials come from boto3's standard chain; ``AWS_ENDPOINT_URL`` selects another store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from webhook.delivery.reports import MOST_BYTES as REPORT_MOST_BYTES
from webhook.delivery.reports import ReportFile
from webhook.delivery.target import DeliveryUnavailable, Publication
from webhook.i18n import N_

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# An order is a few kB: an upload that hangs for 15 s will not finish. Three tries end
# well inside WORKER_LEASE_SECONDS' default of 120 s.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=15,
    retries={"mode": "standard", "max_attempts": 3},
)
# The target watch asks often and must find a hung S3 soon: one short try.
CHECK_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 1})


class S3Target:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: S3Client | None = None,
        sse: str | None = None,
        kms_key_id: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.description = f"s3://{bucket}/{self.prefix}"
        self._client: S3Client = client or boto3.client("s3", config=CLIENT_CONFIG)
        self._check_client: S3Client = client or boto3.client("s3", config=CHECK_CONFIG)
        self._encryption: dict[str, str] = {}
        if sse:
            self._encryption["ServerSideEncryption"] = sse
            if kms_key_id:
                self._encryption["SSEKMSKeyId"] = kms_key_id

    def publish(self, name: str, document: bytes, metadata: dict[str, str]) -> Publication:
        key = self.prefix + name
        location = f"s3://{self.bucket}/{key}"
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=document,
                ContentType="application/xml",
                IfNoneMatch="*",
                Metadata=metadata,
                **self._encryption,  # type: ignore[arg-type]
            )
        except ClientError as error:
            status, code = _status_and_code(error)
            if status == 412 or code == "PreconditionFailed":
                return Publication(location=location, created=False)
            if status == 409:
                raise DeliveryUnavailable(
                    N_("%(location)s: a concurrent write is in progress (%(code)s); retrying"),
                    location=location,
                    code=code,
                ) from None
            raise DeliveryUnavailable(
                N_("cannot write %(location)s: %(code)s (%(status)s)"),
                location=location,
                code=code,
                status=status,
            ) from None
        except BotoCoreError as error:
            raise DeliveryUnavailable(
                N_("cannot reach S3 for %(location)s: %(error)s"),
                location=location,
                error=str(error),
            ) from None
        return Publication(location=location, created=True)

    def read(self, name: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.prefix + name)
        except ClientError as error:
            status, code = _status_and_code(error)
            if status == 404 or code in ("NoSuchKey", "NotFound"):
                raise FileNotFoundError(name) from None
            raise DeliveryUnavailable(
                N_("cannot read %(file)s from S3: %(code)s"), file=name, code=code
            ) from None
        except BotoCoreError as error:
            raise DeliveryUnavailable(N_("cannot reach S3: %(error)s"), error=str(error)) from None
        body: bytes = response["Body"].read()
        return body

    def link(self, name: str, seconds: int) -> str | None:
        """A presigned GET URL, valid for ``seconds``."""
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.prefix + name},
            ExpiresIn=seconds,
        )
        return url

    def check(self) -> None:
        try:
            self._check_client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            status, code = _status_and_code(error)
            raise DeliveryUnavailable(
                N_("bucket %(bucket)s is not usable: %(code)s (%(status)s)"),
                bucket=self.bucket,
                code=code,
                status=status,
            ) from None
        except BotoCoreError as error:
            raise DeliveryUnavailable(N_("cannot reach S3: %(error)s"), error=str(error)) from None


def _status_and_code(error: ClientError) -> tuple[int, str]:
    response: Any = error.response
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return status, str(response.get("Error", {}).get("Code", "unknown"))


class S3Reports:
    """Money S3's import reports a sync tool copies into a bucket (``reports.py``)."""

    def __init__(self, bucket: str, prefix: str = "", *, client: S3Client | None = None) -> None:
        self._client: S3Client = client or boto3.client("s3", config=CLIENT_CONFIG)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.description = f"s3://{bucket}/{self.prefix}"

    def listing(self) -> list[ReportFile]:
        found: list[ReportFile] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    if name.lower().endswith(".xml") and item["Size"] <= REPORT_MOST_BYTES:
                        written = item["LastModified"].timestamp()
                        found.append(ReportFile(name, str(item["ETag"]), written))
        except (BotoCoreError, ClientError) as error:
            raise DeliveryUnavailable(
                N_("MONEY_S3_REPORTS %(where)s: %(error)s"),
                where=self.description,
                error=str(error),
            ) from None
        return sorted(found, key=lambda report: (report.written_at, report.name))

    def read(self, name: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.prefix + name)
            return answer["Body"].read(REPORT_MOST_BYTES + 1)
        except (BotoCoreError, ClientError) as error:
            raise DeliveryUnavailable(
                N_("report %(file)s: %(error)s"), file=f"{self.description}{name}", error=str(error)
            ) from None
