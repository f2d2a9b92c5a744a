"""Reading helpers the ChatGPT tests share: every page of a query, and the
requests a session sent."""

from __future__ import annotations

import aiohttp
import attrs


async def every_page(connector, query, limit=100):
    """Every page of *query*, *limit* logs a page, following ``next_cursor``."""
    pages, cursor = [], None
    while True:
        page = await connector.get_ai_audit_logs(
            attrs.evolve(query, limit=limit, cursor=cursor)
        )
        pages.append(page)
        if not page.has_more:
            return pages
        assert page.next_cursor, "has_more without a next_cursor"
        cursor = page.next_cursor


def assert_one_full_read(paged: list[str], full: list[str]) -> None:
    """*paged* holds every log of *full* once. A read without a hint reads
    windows and files several at once, so only its logs are compared, not
    their order; pages are read in order, each from a checkpoint."""
    assert len(paged) == len(set(paged)), "no log on two pages"
    assert len(full) == len(set(full)), "no log read twice"
    assert sorted(paged) == sorted(full), "the pages are one full read"


class RequestLog:
    """Every request the connector sends, recorded by an aiohttp trace."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._started)

    async def _started(self, session, context, params) -> None:
        self.urls.append(str(params.url))

    def paths(self, fragment: str) -> list[str]:
        return [url for url in self.urls if fragment in url]
