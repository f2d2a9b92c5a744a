"""The id of one event of a Reports API activity, as the connector and the
sandbox both spell it.

No field of an activity is unique alone: several activities share a time,
and the events of one activity share its whole ``id``. The key is the
customer, the application, the time in milliseconds, the activity's
``uniqueQualifier`` and the event's place in ``events``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


__all__ = ["log_id"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def log_id(
    customer_id: str,
    application: str,
    time: datetime,
    unique_qualifier: str,
    index: int,
) -> str:
    """The log id of ``events[index]`` of the activity whose ``id`` holds
    *customer_id*, *application*, *time* (aware) and *unique_qualifier*."""
    epoch_ms = (time.astimezone(UTC) - _EPOCH) // _MILLISECOND
    return f"{customer_id}:{application}:{epoch_ms}:{unique_qualifier}:{index}"
