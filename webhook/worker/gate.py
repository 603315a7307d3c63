"""Whether exports may run now, and why not; and the stop on credentials RAYNET refused.

Exports stop while ``SYNC_ENABLED=0``, while an operator has paused them, while the export
target takes no files (the chores watch it), and while RAYNET refuses the credentials.

That last stop is shared through the state by every process using it (20 bad logins block
the host for an hour): the first 401 sets it, and then no process sends RAYNET a request
with those credentials. It lifts when it no longer applies, with no restart: ``replay``
clears it, new credentials do not match it, and once an hour one worker asks RAYNET again
(a probe, ``Chores``), which clears it if RAYNET answers. A 401 from the button's token
check never sets it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from webhook.i18n import N_
from webhook.order import Reason
from webhook.state.model import AUTH_REFUSED_FLAG, Clock
from webhook.state.ports import CaseRecords

PROBE_FLAG = "raynet_auth_probe"
PROBE_AFTER = 3600.0  # one probe an hour stays far below RAYNET's 20 bad logins an hour
CACHE_SECONDS = 1.0  # the switches are read at most once a second per process


@dataclass
class CredentialsStop:
    """The shared stop on refused credentials: ``RaynetClient``'s latch."""

    records: CaseRecords
    fingerprint: str  # of the credentials in use: a stop on other credentials is not ours
    clock: Clock = time.time
    _seen: tuple[float, float | None] = field(default=(0.0, None), init=False)

    def refused_since(self) -> float | None:
        """When RAYNET refused these credentials, if the stop is on (a second old at most)."""
        now = self.clock()
        read_at, since = self._seen
        if now - read_at >= CACHE_SECONDS:
            since = refused_since(self.records, self.fingerprint)
            self._seen = (now, since)
        return since

    def refuse(self) -> None:
        now = self.clock()
        self.records.set_flag(AUTH_REFUSED_FLAG, f"{self.fingerprint} {now!r}")
        self._seen = (now, now)

    def lift(self) -> None:
        """RAYNET answered a probe with these credentials: they are good again."""
        self.records.set_flag(AUTH_REFUSED_FLAG, None)
        self._seen = (self.clock(), None)

    def probe_due(self) -> bool:
        """Whether this process is the one to ask RAYNET again (once an hour for all)."""
        since = self.refused_since()
        return (
            since is not None
            and self.clock() - since >= PROBE_AFTER
            and self.records.take_turn(PROBE_FLAG, PROBE_AFTER)
        )


def refused_since(records: CaseRecords, fingerprint: str) -> float | None:
    """When RAYNET refused the credentials with this fingerprint, if it did and no replay,
    probe or new credentials lifted it since."""
    value = records.flag(AUTH_REFUSED_FLAG)
    if not value:
        return None
    stopped, _, since = value.partition(" ")
    if stopped != fingerprint:
        return None
    try:
        return float(since)
    except ValueError:  # written by an earlier version: the fingerprint alone
        return 0.0


@dataclass
class ExportGate:
    """Why exports stand still now, if they do; shared by the worker's threads."""

    records: CaseRecords
    credentials: CredentialsStop | None  # None: no RAYNET access configured
    sync_enabled: bool = True  # SYNC_ENABLED; the records hold the operator's switch
    clock: Clock = time.time
    target_problem: Reason | None = None  # set by the chores' target watch
    look_at_target: bool = False  # a delivery just failed: the chores check the target now
    _reason: tuple[float, str | None] = field(default=(0.0, None), init=False)

    def closed_because(self) -> str | None:
        """Why exports cannot run now, or None."""
        if not self.sync_enabled:
            return "SYNC_ENABLED=0"  # a variable's name: the same in every language
        if self.target_problem is not None:
            return f"the export target cannot take files: {self.target_problem}"
        if not self.records.sync_enabled():
            return N_("sync switched off by an operator")
        if self.credentials is not None and self.credentials.refused_since() is not None:
            return N_("RAYNET refused the credentials; fix them or replay")
        return None

    def target_found(self, problem: Reason | None) -> None:
        """What the target watch found; a change counts before the next claim."""
        if problem != self.target_problem:
            self.target_problem = problem
            self._reason = (0.0, None)

    def closed_lately(self) -> str | None:
        """``closed_because`` as of at most a second ago: the loop asks before every claim,
        and each answer reads two shared switches (DynamoDB requests in the SQS mode)."""
        now = self.clock()
        read_at, reason = self._reason
        if now - read_at >= CACHE_SECONDS:
            reason = self.closed_because()
            self._reason = (now, reason)
        return reason
