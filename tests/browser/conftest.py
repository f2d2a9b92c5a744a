"""A real headless Chromium for the tests that open a report as a person does.

The browser is the system's (Debian's ``chromium`` package, or any Chrome
build), driven by Playwright: ``AIAUDIT_CHROMIUM`` names its executable,
else the first of ``chromium``, ``chromium-browser`` and ``google-chrome`` on
the ``PATH``. Playwright's own browser download is never used; the tests
must run on a machine that reaches no CDN.

Without a browser (or without Playwright) the tests are skipped with the
reason, unless ``AIAUDIT_REQUIRE_BROWSER=1`` (CI sets it): then they fail,
so a CI machine without Chromium can never pass silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest


if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser


BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""The executables looked for on the ``PATH``, in this order."""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("AIAUDIT_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"{reason}, and AIAUDIT_REQUIRE_BROWSER=1 requires the browser tests "
            "to run (install Debian's chromium package, or set AIAUDIT_CHROMIUM "
            "to a Chromium or Chrome executable)",
            pytrace=False,
        )
    pytest.skip(reason)


def chromium_executable() -> Path:
    """The browser to drive; skips (or fails) the test when there is none."""
    named = os.environ.get("AIAUDIT_CHROMIUM")
    if named:
        found = shutil.which(named)
        if found is None:
            _unavailable(f"AIAUDIT_CHROMIUM={named} is not an executable")
        return Path(found)
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
    _unavailable(
        f"no Chromium found ({', '.join(BROWSER_NAMES)} on the PATH, "
        "or AIAUDIT_CHROMIUM)"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a module's tests; each opens its own page.

    Not for the whole run: Playwright's synchronous API keeps an event loop
    of its own while it is started, which the asynchronous tests after
    these must not find.
    """
    executable = chromium_executable()
    try:
        from playwright.sync_api import Error, sync_playwright  # noqa: PLC0415
    except ImportError:
        _unavailable("playwright is not installed (it is in the tests group)")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable)
        except Error as exc:
            reason = str(exc).strip().partition("\n")[0]
            _unavailable(f"{executable} does not start: {reason}")
        try:
            yield launched
        finally:
            launched.close()
