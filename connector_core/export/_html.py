"""The HTML elements the report is built of, every text from data escaped.

Kept apart from :mod:`connector_core.export.report` so each group of cards
(the usage ones there, the security ones in
:mod:`connector_core.export._report_apps`) builds on the same few helpers.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


__all__ = ["_card", "_e", "_el", "_empty", "_int", "_n", "_table"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _n(value: float) -> str:
    # SVG coordinates: one decimal is sub-pixel and keeps the file small.
    return f"{value:.1f}".removesuffix(".0")


def _attribute(name: str, value: object) -> str:
    # class_ -> class, text_anchor -> text-anchor; camelCase SVG names as-is.
    key = name.rstrip("_").replace("_", "-")
    text = _n(value) if isinstance(value, float) else str(value)
    return f' {key}="{_e(text)}"'


def _el(tag: str, *children: str, **attributes: object) -> str:
    """An element whose attribute values are escaped here.

    Children are markup already; text from data goes in through :func:`_e`.
    """
    rendered = "".join(
        _attribute(name, value)
        for name, value in attributes.items()
        if value is not None
    )
    return f"<{tag}{rendered}>{''.join(children)}</{tag}>"


def _int(value: int) -> str:
    return f"{value:,}"


def _table(headers: Sequence[tuple[str, bool]], rows: Iterable[Sequence[str]]) -> str:
    """A table; each header says whether its column is numeric (right-aligned).

    Cells are markup already (escaped by the caller).
    """
    numeric = [is_number for _, is_number in headers]
    head = "".join(
        _el("th", _e(name), class_="num" if is_number else None)
        for name, is_number in headers
    )
    body = "".join(
        _el(
            "tr",
            *(
                _el("td", cell, class_="num" if is_number else None)
                for cell, is_number in zip(row, numeric, strict=True)
            ),
        )
        for row in rows
    )
    table = _el("table", _el("thead", _el("tr", head)), _el("tbody", body))
    # A table wider than a phone (emails and dates are not broken) scrolls
    # sideways inside its card instead of widening the whole page.
    return _el("div", table, class_="scroll")


def _card(heading: str, *content: str, wide: bool = False) -> str:
    return _el(
        "section",
        _el("h3", _e(heading)),
        *content,
        class_="card wide" if wide else "card",
    )


def _empty(text: str) -> str:
    return _el("p", _e(text), class_="empty")
