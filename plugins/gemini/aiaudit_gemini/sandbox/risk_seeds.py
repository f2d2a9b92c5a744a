"""Sign-ins the sandbox places on purpose, so the security risks the four
applications it serves can show have rows in any seed's history.

Of the risks a demo looks for, the ``login`` application can show two: a
burst of failed sign-ins, and a sign-in from a country a person never signed
in from (``networkInfo.regionCode``). The others need records this sandbox
does not serve (no uploads, keys, roles or settings: those are other
applications of the Reports API, which the connector does not read), so they
are not planned. ``docs/gemini.md`` lists what is.

They are drawn from the seed and the time span alone, with a generator of
their own, so the random activity stays what it was.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from connector_core.sandbox import history_moment


if TYPE_CHECKING:
    from aiaudit_gemini.sandbox.data import Activity, Domain, User, _Maker


__all__ = ["ABROAD", "plan"]

ABROAD: Final = ("BR", "BR-SP")
"""Where the traveller's last sign-in comes from: a country no person of
the domain lives in (``data._REGIONS``)."""

_BURST_FAILURES: Final = 7
_BURST_GAP: Final = timedelta(seconds=70)
_HOME_SIGN_INS: Final = (0.1, 0.3, 0.5, 0.7)


def plan(domain: Domain, maker: _Maker) -> list[Activity]:
    """The planned ``login`` activities of *domain*'s history.

    *maker* builds them, with a generator of its own. Each is placed at a
    fraction of the span and a fixed UTC clock time
    (:func:`~connector_core.sandbox.history_moment`); one that cannot keep
    its clock time in a short history is left out.
    """
    rng = random.Random(f"risk-seeds:{domain.seed}")  # noqa: S311 - test data
    people = [u for u in domain.users if not u.admin]
    burst, traveller = rng.sample(people, 2)
    made: list[Activity] = []

    def at(
        fraction: float, clock: time, *, weekend: bool | None = None
    ) -> datetime | None:
        return history_moment(
            domain.start, domain.end, fraction, clock, weekend=weekend
        )

    def sign_in(
        moment: datetime | None,
        user: User,
        name: str,
        region: tuple[str, str] | None = None,
        **parameters: Any,
    ) -> None:
        if moment is None:
            return
        listed = [
            {"name": "login_type", "value": "google_password"},
            {"name": "login_challenge_method", "multiValue": ["password"]},
            *({"name": k, "value": v} for k, v in parameters.items()),
            {"name": "is_suspicious", "boolValue": False},
        ]
        event = {"type": "login", "name": name, "parameters": listed}
        activity = maker.activity("login", moment, user, [event])
        country, subdivision = region or user.region
        activity.record["networkInfo"] = {
            "ipAsn": [64496 + int(user.profile_id[-1])],
            "regionCode": country,
            "subdivisionCode": subdivision,
        }
        if region is not None:
            activity.record["ipAddress"] = "203.0.113.77"
        made.append(activity)

    # 1. A burst of failed sign-ins, 70 seconds apart, then the one that works.
    first = at(0.8, time(15, 5), weekend=False)
    if first is not None:
        for n in range(_BURST_FAILURES):
            sign_in(
                first + n * _BURST_GAP,
                burst,
                "login_failure",
                login_failure_type="login_failure_invalid_password",
            )
        sign_in(first + _BURST_FAILURES * _BURST_GAP, burst, "login_success")

    # 5. Weeks of sign-ins from home, then one from a country never seen.
    for fraction in _HOME_SIGN_INS:
        sign_in(at(fraction, time(14, 30)), traveller, "login_success")
    sign_in(at(0.93, time(21, 45)), traveller, "login_success", region=ABROAD)
    return made
