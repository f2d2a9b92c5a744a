"""Cursor listings and their pages, checked alike for every reader.

The Admin API and the Compliance API page their listings alike (``data``,
``has_more``, ``last_id``); a reader that trusted a page's shape would
crash, or spin, on a server that breaks it, so each page is checked and each
cursor guarded here, once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from connector_core.cursors import CursorGuard
from connector_core.exceptions import SchemaError


if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from connector_core.http import HTTPTransport


__all__ = ["LISTING_LIMIT", "list_all", "page_items"]

LISTING_LIMIT: Final = 100


def page_items(page: object, where: str) -> tuple[list[Any], bool, str | None]:
    """The items, ``has_more`` and ``last_id`` of a list envelope, checked."""
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise SchemaError(f"{where}: expected a list envelope with 'data'")
    has_more = page.get("has_more")
    if not isinstance(has_more, bool):
        raise SchemaError(f"{where}: 'has_more' is missing or not a boolean")
    last_id = page.get("last_id")
    return page["data"], has_more, last_id if isinstance(last_id, str) else None


async def list_all(http: HTTPTransport, path: str, where: str) -> AsyncIterator[Any]:
    """Every item of a cursor listing (``after``/``has_more``/``last_id``),
    each page checked as a list envelope, and stopped with a
    :class:`SchemaError` if a ``last_id`` comes back."""
    after: str | None = None
    guard = CursorGuard(f"{where} listing", "last_id")
    while True:
        params: list[tuple[str, Any]] = [("limit", LISTING_LIMIT)]
        if after:
            params.append(("after", after))
        page = await http.get_json(path, params=params)
        items, has_more, last_id = page_items(page, where)
        more = has_more and last_id is not None
        if more:
            assert last_id is not None  # noqa: S101 - for the type checker
            guard.advance(last_id)  # before the items: fail fast
        for item in items:
            yield item
        if not more:
            return
        after = last_id
