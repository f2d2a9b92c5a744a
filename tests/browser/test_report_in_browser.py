"""The HTML report as a person sees it: made by the real ``aiaudit`` from
sandboxes synced into SQLite, opened from disk in a real headless Chromium.

Three reports: ``aiaudit usage --format html`` of the example plugin alone,
the ``aiaudit demo`` report over two platforms (the example and a second
plugin installed for the test, see ``second_platform``), and ``aiaudit
usage --format html`` over that demo's store, every platform side by side.
Each is opened at a desktop width (1280 px) and a phone's (390 px), and
must load with no console error, no script error and no request for
anything but the file itself; show its key parts; never scroll the page
sideways; name every top user in full; and give a full-page screenshot.

``AIAUDIT_SCREENSHOT_DIR``, when set, keeps the screenshots there too, to
look at. The browser is found as ``conftest`` says; without one these
tests skip, or fail when ``AIAUDIT_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from second_platform import second_installed

from connector_core.testing.processes import AIAUDIT, clean_env, running_sandbox


if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, ConsoleMessage, Page, Route


WIDTHS = (1280, 390)
"""A desktop browser's width and a phone's, in CSS pixels."""

HEIGHT = 900


def card(heading: str) -> str:
    """The selector of the report's card headed *heading* (Playwright's
    ``:text-is`` matches the heading's whole text)."""
    return f'section.card:has(> h3:text-is("{heading}"))'


ELEMENTS: tuple[tuple[str, str], ...] = (
    ("title", "header.page h1"),
    ("generated line", "header.page p.meta"),
    ("KPI figures", "section.kpis .kpi .value"),
    ("daily chart", f"{card('Daily activity')} svg[role=img]"),
    ("top users", f"{card('Top users')} svg[role=img]"),
    ("events by type", f"{card('Events by type')} svg[role=img]"),
    ("model usage", f"{card('Model usage')} svg[role=img]"),
    ("apps granted access", card("Apps granted access")),
    ("AI features used", card("AI features used")),
)
"""What every report shows: (name, selector); each must match at least one
element, and every element it matches must be visible and take room."""

SEVERAL_PLATFORMS: tuple[tuple[str, str], ...] = (
    ("platform table", f"{card('Platforms')} table"),
    ("platform chart", f"{card('Platforms')} svg[role=img]"),
    ("platform sections", "section.platform > h2"),
)
"""What a report over several platforms shows besides."""

SECURITY = ("security section", "section#security")
"""The report's security section, first in every report."""

SECURITY_CARDS: tuple[tuple[str, str], ...] = (
    SECURITY,
    ("highest-risk findings", "section#security #highest-risk table"),
    ("failed sign-ins per person", "section#security #failed-sign-ins table"),
    ("who uploaded which files", "section#security #uploads table"),
    ("sensitive file names", "section#security #uploads strong.sensitive"),
    ("the events behind the rows", "section#security #security-events table"),
)
"""What the security section shows of the sandboxes' seeded risks."""


@dataclasses.dataclass(frozen=True)
class Report:
    """A report the CLI wrote, and what the store it read holds."""

    path: Path
    people: frozenset[str]
    """Every user's email and id in the store: what a user's name in the
    report must be, whole."""
    several: bool


@dataclasses.dataclass
class Opened:
    """A report open in a page, and everything the page did while it was."""

    page: Page
    console: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    """(type, text) of every console message."""
    errors: list[str] = dataclasses.field(default_factory=list)
    requests: list[str] = dataclasses.field(default_factory=list)


def aiaudit(
    folder: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=folder,
    )
    assert result.returncode == 0, (args, result.stderr)
    return result


def people(folder: Path, store: str, env: dict[str, str]) -> frozenset[str]:
    logs = aiaudit(folder, "--store", store, "logs", "--format", "jsonl", env=env)
    events = [json.loads(line) for line in logs.stdout.splitlines()]
    assert events
    return frozenset(
        who
        for event in events
        for who in (event.get("user_email"), event.get("user_id"))
        if who
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Report]:
    """The three reports, made once for the module's tests."""
    folder = tmp_path_factory.mktemp("reports")
    made: dict[str, Report] = {}

    one = f"sqlite:///{folder / 'example.db'}"
    with running_sandbox(
        "example", "--events", "1500", "--days", "10", "--seed", "4"
    ) as sandbox:
        env = clean_env(**sandbox["environment"])
        since, until = sandbox["details"]["history"]
        span = ("--since", since, "--until", until)
        aiaudit(folder, "--store", one, "sync", "example", *span, env=env)
    aiaudit(
        folder,
        *("--store", one, "usage", "--platform", "example", *span),
        *("--format", "html", "--output", "usage-example.html"),
        env=clean_env(),
    )
    made["usage-example"] = Report(
        path=folder / "usage-example.html",
        people=people(folder, one, clean_env()),
        several=False,
    )

    two = f"sqlite:///{folder / 'demo.db'}"
    env = second_installed(folder)
    aiaudit(
        folder,
        *("--store", two, "demo", "--events", "1500", "--days", "14"),
        *("--report", "demo.html"),
        env=env,
    )
    everyone = people(folder, two, env)
    made["demo"] = Report(path=folder / "demo.html", people=everyone, several=True)
    aiaudit(
        folder,
        *("--store", two, "usage", "--format", "html", "--output", "usage-both.html"),
        env=env,
    )
    made["usage-both"] = Report(
        path=folder / "usage-both.html", people=everyone, several=True
    )
    return made


REPORTS = ("usage-example", "demo", "usage-both")


def said(message: ConsoleMessage) -> tuple[str, str]:
    return message.type, message.text


@contextlib.contextmanager
def opened(
    browser: Browser, report: Report, width: int, zone: str = "UTC"
) -> Iterator[Opened]:
    """*report* loaded from its file in a fresh page *width* pixels wide.

    Every request the page makes is recorded; only the file itself is let
    through, so a report that reaches out fails whether or not its
    Content-Security-Policy would have stopped it.
    """
    url = report.path.as_uri()
    context = browser.new_context(
        viewport={"width": width, "height": HEIGHT},
        device_scale_factor=1,
        timezone_id=zone,
    )
    try:
        page = context.new_page()
        seen = Opened(page)

        def route(route: Route) -> None:
            seen.requests.append(route.request.url)
            if route.request.url == url:
                route.continue_()
            else:
                route.abort()

        context.route("**/*", route)
        page.on("console", lambda message: seen.console.append(said(message)))
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        page.goto(url, wait_until="load")
        yield seen
    finally:
        context.close()


def open_every_details(page: Page) -> None:
    """Unfold the collapsed figures, so their tables are laid out too."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")


def assert_shown(page: Page, elements: tuple[tuple[str, str], ...]) -> None:
    """Each of *elements* (name, selector) is on *page*, visible and taking
    room, every match of it."""
    for name, selector in elements:
        matches = page.locator(selector).all()
        assert matches, f"no {name} ({selector})"
        for match in matches:
            assert match.is_visible(), f"{name} is hidden ({selector})"
            box = match.bounding_box()
            assert box is not None, f"{name} is not laid out ({selector})"
            assert box["width"] > 0, f"{name} has no width ({selector})"
            assert box["height"] > 0, f"{name} has no height ({selector})"


def overflow(page: Page) -> tuple[int, int]:
    """How wide the document is, and how wide its window."""
    scroll_width, client_width = page.evaluate(
        "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
    )
    return scroll_width, client_width


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_the_report_loads_alone_and_cleanly(browser, reports, name, width):
    report = reports[name]
    with opened(browser, report, width) as seen:
        open_every_details(seen.page)
        noisy = [
            (kind, text) for kind, text in seen.console if kind in {"error", "warning"}
        ]
        assert noisy == []
        assert seen.errors == []
        assert seen.requests == [report.path.as_uri()]


@pytest.mark.parametrize("name", REPORTS)
def test_the_key_parts_are_shown(browser, reports, name):
    report = reports[name]
    with opened(browser, report, WIDTHS[0]) as seen:
        page = seen.page
        assert_shown(page, ELEMENTS)
        if report.several:
            assert_shown(page, SEVERAL_PLATFORMS)
        else:
            assert page.locator(card("Platforms")).count() == 0
        title = page.locator("header.page h1").inner_text()
        assert title.startswith("AI usage report")
        generated = page.locator("header.page p.meta").inner_text()
        assert generated.startswith("Generated ")
        assert generated.endswith(" UTC")
        for figure in page.locator("section.kpis .kpi .value").all_inner_texts():
            assert figure.strip()
        events = page.locator("section.kpis .kpi .value").first.inner_text()
        assert int(events.replace(",", "")) > 0
        for chart in page.locator(f"{card('Daily activity')} svg").all():
            assert chart.locator("rect.bar").count() > 0
            assert chart.locator("polyline.trend").count() == 1


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_the_page_never_scrolls_sideways(browser, reports, name, width):
    with opened(browser, reports[name], width) as seen:
        scroll_width, client_width = overflow(seen.page)
        assert scroll_width <= client_width + 1
        # The daily figures and the top users' table too, unfolded: a wide
        # table scrolls inside its card, never the page.
        open_every_details(seen.page)
        scroll_width, client_width = overflow(seen.page)
        assert scroll_width <= client_width + 1


@pytest.mark.parametrize("name", REPORTS)
def test_every_top_user_is_named_in_full(browser, reports, name):
    report = reports[name]
    with opened(browser, report, WIDTHS[-1]) as seen:
        open_every_details(seen.page)
        cards = seen.page.locator(card("Top users")).all()
        assert cards
        emails = 0
        for top in cards:
            bars = top.locator("svg g.row").count()
            cells = top.locator("table tbody tr td:first-child").all()
            assert len(cells) == bars > 0
            for cell in cells:
                text = cell.text_content()
                assert text in report.people, text
                emails += "@" in text
                assert cell.evaluate("c => c.scrollWidth <= c.clientWidth"), text
        assert emails > 0


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", REPORTS)
def test_a_full_page_screenshot(browser, reports, name, width, tmp_path):
    with opened(browser, reports[name], width) as seen:
        shot = tmp_path / f"{name}-{width}.png"
        seen.page.screenshot(path=shot, full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data[12:16] == b"IHDR"
    shot_width, shot_height = struct.unpack(">II", data[16:24])
    assert shot_width == width
    assert shot_height > HEIGHT  # the whole page, not the window
    keep = os.environ.get("AIAUDIT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(keep) / shot.name)


@pytest.mark.parametrize("name", REPORTS)
def test_the_security_section_comes_first_and_links_to_its_events(
    browser, reports, name
):
    with opened(browser, reports[name], WIDTHS[0]) as seen:
        page = seen.page
        assert_shown(page, SECURITY_CARDS)
        # First in the page: before the totals and every usage card.
        first = page.evaluate(
            "document.querySelector('main > header').nextElementSibling.id"
        )
        assert first == "security"
        bursts = page.locator("#failed-sign-ins tbody tr td:nth-child(4)")
        assert any(int(text) > 0 for text in bursts.all_inner_texts())
        links = page.locator("section#security a.events-link")
        assert links.count() > 0
        for href in links.evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        ):
            target = page.locator(href)
            assert target.count() == 1, href
            assert target.evaluate("row => row.closest('#security-events') !== null")
        # A link followed lands on its event's row.
        href = links.first.get_attribute("href")
        links.first.click()
        assert page.evaluate("location.hash") == href
        assert page.locator(href).is_visible()


def test_times_are_shown_in_the_viewers_time_zone(browser, reports):
    with opened(browser, reports["demo"], WIDTHS[0], zone="Asia/Tokyo") as seen:
        page = seen.page
        assert page.locator("#viewer-zone").inner_text() == "Asia/Tokyo"
        moment = page.locator("section#security time.local").first
        utc = moment.get_attribute("datetime")
        assert utc is not None
        shown = moment.inner_text()
        # Tokyo is nine hours ahead of UTC, all year.
        from datetime import datetime, timedelta  # noqa: PLC0415

        expected = datetime.fromisoformat(utc) + timedelta(hours=9)
        assert shown == expected.strftime("%Y-%m-%d %H:%M")
