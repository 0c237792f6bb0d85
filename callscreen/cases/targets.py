"""Work out which employee a call was about, and what it cost reception and the employee."""

from __future__ import annotations

from callscreen.anomaly.hours import OfficeHours, is_after_hours
from callscreen.cases.model import CallTarget, TargetSource
from callscreen.config.model import Config
from callscreen.store import Store
from callscreen.store import hr as queries
from callscreen.store.calls import StoredCall


async def find_employee(store: Store, config: Config, call: StoredCall,
                        feedback_employee: str | None) -> tuple[str, TargetSource] | None:
    """Return the targeted employee and how it was found, strongest evidence first.

    Order: reception's "asking for" feedback, the transfer target, an employee's extension
    that answered (not a reception extension), then the DID or extension dialled.
    """
    reception = set(config.hr.reception_extensions)
    employee = feedback_employee or await queries.feedback_employee(store.db, call.call_id)
    if employee:
        return employee, TargetSource.FEEDBACK

    transfer = await queries.employee_by_extension(store.db, call.transferred_to)
    if transfer and call.transferred_to not in reception:
        return transfer, TargetSource.TRANSFER

    answer = await queries.employee_by_extension(store.db, call.answered_by)
    if answer and call.answered_by not in reception:
        return answer, TargetSource.ANSWER

    dialled = await queries.employee_by_number(store.db, call.did)
    return (dialled[0], TargetSource.DID) if dialled else None


async def build_target(store: Store, config: Config, call: StoredCall, employee_id: str,
                       source: TargetSource) -> CallTarget:
    """Describe the call for the window queries and the monthly time accounting.

    Reception time is what reception extensions (or, when none are configured, whoever
    answered, if that was not the employee) spent bridged on the call; employee time is
    what the employee's own extension spent bridged.
    """
    extension = await queries.employee_extension(store.db, employee_id)
    hours = OfficeHours.from_config(config.anomaly, config.numbers.time_zone)
    suspected = (str(call.category or "") in config.anomaly.suspect_categories
                 or await queries.call_tagged_collector(store.db, call.call_id))

    return CallTarget(
        call_id=call.call_id, employee_id=employee_id, source=source,
        started_at=call.started_at, caller_key=call.caller_key,
        caller_block=call.caller_block, caller_region=call.caller_region,
        after_hours=is_after_hours(call.started_at, hours), suspected=suspected,
        reception_seconds=_reception_seconds(call, config.hr.reception_extensions, extension),
        employee_seconds=call.bridged_seconds_by_party.get(extension, 0) if extension else 0,
    )


def _reception_seconds(call: StoredCall, reception: list[str], employee_extension: str) -> int:
    seconds = call.bridged_seconds_by_party
    if reception:
        return sum(seconds.get(extension, 0) for extension in reception)
    if call.answered_by and call.answered_by != employee_extension:
        return seconds.get(call.answered_by, 0)

    return 0
