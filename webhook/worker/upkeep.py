"""What the dashboard's banners know from the worker's side, kept in the shared records.

The pages never call RAYNET or wait on the target for a banner: the worker publishes what
it sees as flags, each written only when it changes: RAYNET's quota left for the day (from
every answer's ``X-Ratelimit-*``), whether RAYNET still has an active webhook calling this
bridge (asked hourly, with ``PUBLIC_URL`` set: 24 requests a day), and why the target takes
no files, if it does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webhook.errors import BridgeError
from webhook.raynet.client import DAILY_LIMIT, RaynetClient
from webhook.raynet.upkeep import webhook_problem
from webhook.state.ports import CaseRecords

QUOTA_FLAG = "raynet_requests_left"  # "<remaining>/<limit>"
WEBHOOK_FLAG = "raynet_webhook_problem"
TARGET_FLAG = "target_problem"
WEBHOOK_CHECK_SECONDS = 3600.0


@dataclass
class Upkeep:
    records: CaseRecords
    client: RaynetClient
    webhook_url: str | None = None
    webhook_token: str | None = None
    _published: dict[str, str | None] = field(default_factory=dict, init=False)

    def publish_quota(self) -> None:
        status = self.client.rate_limit
        if status.remaining is not None:
            self.publish(QUOTA_FLAG, f"{status.remaining}/{status.limit or DAILY_LIMIT}")

    def check_webhook(self) -> None:
        if self.webhook_url is None:
            return
        try:
            webhook_problem(self.client.webhooks(), self.webhook_url, self.webhook_token)
        except BridgeError as error:
            self.publish(WEBHOOK_FLAG, str(error))
        else:
            self.publish(WEBHOOK_FLAG, None)

    def publish(self, name: str, value: str | None) -> None:
        """Write a flag when its value changed since this worker last wrote it."""
        if name in self._published and self._published[name] == value:
            return
        self.records.set_flag(name, value)
        self._published[name] = value


def requests_left(records: CaseRecords) -> tuple[int, int] | None:
    """RAYNET's requests left today and its daily limit, as the worker last saw them."""
    value = records.flag(QUOTA_FLAG)
    if value is None:
        return None
    remaining, _, limit = value.partition("/")
    return int(remaining), int(limit or DAILY_LIMIT)
