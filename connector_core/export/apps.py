"""The security views beside usage: apps granted access, AI features used.

How ``aiaudit usage`` shows :class:`~connector_core.analytics.AppGrants`
and :class:`~connector_core.analytics.FeaturesUsed` in each of its formats:
text sections, JSON keys and the HTML report's cards. App names, scopes
and people come from outside (a person names their own app), so the text
is made printable and the HTML escaped, as everywhere else in the reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from connector_core.export._html import _card, _e, _el, _empty, _int, _table
from connector_core.export.formats import _cell, _utc
from connector_core.export.ocsf import platform_display_name
from connector_core.serialization import unstructure


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from connector_core.analytics import AppGrant, AppGrants, FeaturesUsed
    from connector_core.serialization import Style


__all__ = ["app_cards", "apps_data", "apps_lines", "people_text"]

_PEOPLE_SHOWN: Final = 3
"""How many people an app's row names before "and N more"."""

_LIST_SHOWN: Final = 10
"""How many people the text report's line under an app names."""

_UNNAMED: Final = "(unnamed app)"


def _name(app: AppGrant) -> str:
    return app.name or app.app_id or _UNNAMED


def people_text(people: Sequence[str], shown: int = _PEOPLE_SHOWN) -> str:
    """*people* as a short list: the first *shown*, then how many more."""
    text = ", ".join(people[:shown])
    rest = len(people) - shown
    return f"{text} and {rest:,} more" if rest > 0 else text


def apps_data(
    apps: AppGrants | None,
    features: FeaturesUsed | None,
    style: Style,
    *,
    platform: str | None = None,
) -> dict[str, Any]:
    """The JSON keys ``aiaudit usage`` adds for the two views: the apps
    (``apps_granted``) and the features (``ai_features``), each a list of
    the views' records in *style* (of *platform* alone, when given); a
    view not given adds no key."""
    data: dict[str, Any] = {}
    camel = style == "camel"
    if apps is not None:
        data["appsGranted" if camel else "apps_granted"] = unstructure(
            [a for a in apps.apps if platform in (None, a.platform)], style=style
        )
    if features is not None:
        data["aiFeatures" if camel else "ai_features"] = unstructure(
            [f for f in features.features if platform in (None, f.platform)],
            style=style,
        )
    return data


def apps_lines(
    apps: AppGrants | None,
    features: FeaturesUsed | None,
    display_names: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """The text sections of the two views, one line at a time (no
    newline); nothing for a view that is empty or not given. Each section
    starts with an empty line, so it follows any report."""
    if apps is not None and apps.apps:
        width = _platform_width(
            platform_display_name(app.platform, display_names) for app in apps.apps
        )
        yield ""
        yield "Apps granted access (AI apps and apps reaching data first)"
        yield (
            f"  {'PLATFORM':<{width}} {'APP':<28} {'AI':<3} {'REACHES':<20}"
            f" {'PEOPLE':>6} {'REVOKED':>7}  LAST GRANTED"
        )
        for app in apps.apps:
            platform = platform_display_name(app.platform, display_names)
            last = _utc(app.last_granted) if app.last_granted else "-"
            yield (
                f"  {_cell(platform, width)} {_cell(_name(app), 28)}"
                f" {'AI' if app.is_ai else '-':<3}"
                f" {_cell(', '.join(app.reaches) or '-', 20)}"
                f" {len(app.granted_to):>6,} {len(app.revoked_by):>7,}  {last}"
            )
            if app.granted_to:
                yield f"      granted to: {people_text(app.granted_to, _LIST_SHOWN)}"
            if app.revoked_by:
                yield f"      revoked by: {people_text(app.revoked_by, _LIST_SHOWN)}"
    if features is not None and features.features:
        width = _platform_width(
            platform_display_name(use.platform, display_names)
            for use in features.features
        )
        yield ""
        yield "AI features used"
        yield (
            f"  {'PLATFORM':<{width}} {'PRODUCT':<20} {'FEATURE':<28}"
            f" {'USES':>9} {'PEOPLE':>7}"
        )
        for use in features.features:
            platform = platform_display_name(use.platform, display_names)
            yield (
                f"  {_cell(platform, width)} {_cell(use.app or '-', 20)}"
                f" {_cell(use.feature, 28)} {use.uses:>9,} {use.people:>7,}"
            )


def _platform_width(names: Iterable[str]) -> int:
    """The platform column fits the longest name shown (a display name such
    as "Gemini (Google Workspace)" is read whole), within reason."""
    longest = max((len(name) for name in names), default=0)
    return max(len("PLATFORM"), min(longest, 28))


def _date(app: AppGrant) -> str:
    return "-" if app.last_granted is None else _e(_utc(app.last_granted))


def _apps_card(apps: AppGrants, names: Mapping[str, str] | None) -> str:
    if not apps.apps:
        return _card(
            "Apps granted access",
            _empty("No app was granted or revoked access in this period."),
            wide=True,
        )
    several = len({app.platform for app in apps.apps}) > 1
    headers = [
        *([("Platform", False)] if several else []),
        ("App", False),
        ("Reaches", False),
        ("People now", False),
        ("Revoked by", False),
        ("Last granted", False),
    ]
    rows = []
    for app in apps.apps:
        badge = _el("span", "AI", class_="badge ai") if app.is_ai else ""
        app_cell = _el("span", _e(_name(app)), title=app.app_id) + badge
        now = _int(len(app.granted_to))
        if app.granted_to:
            now += _el("span", _e(" · " + people_text(app.granted_to)), class_="who")
        revoked = _e(people_text(app.revoked_by)) if app.revoked_by else "-"
        rows.append(
            (
                *([_e(platform_display_name(app.platform, names))] if several else []),
                app_cell,
                _e(", ".join(app.reaches)) if app.reaches else "-",
                now,
                revoked,
                _date(app),
            )
        )
    note = _el(
        "p",
        _e(
            "Third-party apps people granted access to their accounts: AI apps "
            "and apps reaching data first. A grant counts until the same person "
            "revokes it."
        ),
        class_="note",
    )
    return _card("Apps granted access", note, _table(headers, rows), wide=True)


def _features_card(features: FeaturesUsed, names: Mapping[str, str] | None) -> str:
    if not features.features:
        return _card(
            "AI features used",
            _empty("No AI feature was used in this period."),
            wide=True,
        )
    several = len({use.platform for use in features.features}) > 1
    headers = [
        *([("Platform", False)] if several else []),
        ("Product", False),
        ("Feature", False),
        ("Uses", True),
        ("People", True),
    ]
    rows = (
        (
            *([_e(platform_display_name(use.platform, names))] if several else []),
            _e(use.app) if use.app else "-",
            _e(use.feature),
            _int(use.uses),
            _int(use.people),
        )
        for use in features.features
    )
    return _card("AI features used", _table(headers, rows), wide=True)


def app_cards(
    apps: AppGrants | None,
    features: FeaturesUsed | None,
    names: Mapping[str, str] | None = None,
) -> str:
    """The report's security cards (apps granted access, then AI features
    used) in a grid of their own, or ``""`` when neither view is given."""
    cards = []
    if apps is not None:
        cards.append(_apps_card(apps, names))
    if features is not None:
        cards.append(_features_card(features, names))
    if not cards:
        return ""
    return _el("div", *cards, class_="grid security")
