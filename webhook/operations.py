"""What an operator may do to a case: shared by the dashboard, its JSON API and the CLI."""

from __future__ import annotations

from webhook.errors import BridgeError
from webhook.jobs.interfaces import CaseRecords
from webhook.jobs.store import CaseRecord

RETRYABLE = ("failed", "dead", "skipped")


class ActionRefused(BridgeError):
    """The case is not in a state where the action makes sense; the message says why."""


def find_case(store: CaseRecords, case_id: int) -> CaseRecord:
    record = store.case(case_id)
    if record is None:
        raise ActionRefused(f"case {case_id} is unknown here: no webhook arrived for it")
    return record


def retry_case(store: CaseRecords, case_id: int) -> CaseRecord:
    """Queue a failed, dead or skipped case for another attempt now."""
    record = find_case(store, case_id)
    if record.state not in RETRYABLE:
        detail = "is already waiting" if record.state == "pending" else f"is {record.state}"
        raise ActionRefused(
            f"case {case_id} {detail}; only failed, dead or skipped cases can be retried"
        )
    store.replay(case_id)
    return find_case(store, case_id)


def reexport_case(store: CaseRecords, case_id: int) -> CaseRecord:
    """Ask for one more file of an exported case (``<code>-2.xml``, ...)."""
    record = find_case(store, case_id)
    if record.state != "exported":
        raise ActionRefused(
            f"case {case_id} is {record.state}, not exported; "
            "only an exported case can be exported again"
        )
    store.request_reexport(case_id)
    return find_case(store, case_id)
