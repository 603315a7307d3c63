"""What an operator may do to a case: shared by the dashboard, its JSON API and the CLI."""

from __future__ import annotations

from webhook.errors import BridgeError
from webhook.i18n import N_
from webhook.state.model import RETRYABLE_STATES, CaseState, TrackedCase
from webhook.state.ports import CaseRecords, JobQueue


class ActionRefused(BridgeError):
    """The case is not in a state where the action makes sense; the message says why."""


def find_case(records: CaseRecords, case_id: int) -> TrackedCase:
    record = records.case(case_id)
    if record is None:
        raise ActionRefused(
            N_("case %(case)s is unknown here: no webhook arrived for it"), case=case_id
        )
    return record


def retry_case(queue: JobQueue, records: CaseRecords, case_id: int) -> TrackedCase:
    """Queue a failed, dead or skipped case for another attempt now."""
    record = find_case(records, case_id)
    if record.state not in RETRYABLE_STATES:
        raise ActionRefused(
            N_(
                "case %(case)s is already waiting; "
                "only failed, dead or skipped cases can be retried"
            )
            if record.state == CaseState.PENDING
            else N_("case %(case)s is exported; only failed, dead or skipped cases can be retried"),
            case=case_id,
        )
    queue.replay(case_id)
    return find_case(records, case_id)


def reexport_case(queue: JobQueue, records: CaseRecords, case_id: int) -> TrackedCase:
    """Ask for one more file of an exported case (``<code>+2.xml``, ...)."""
    record = find_case(records, case_id)
    if record.state != CaseState.EXPORTED:
        raise ActionRefused(
            N_("case %(case)s is not exported; only an exported case can be exported again"),
            case=case_id,
        )
    queue.request_reexport(case_id)
    return find_case(records, case_id)
