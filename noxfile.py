"""Development sessions: ``nox -s tests``, ``lint``, ``types``, ``docs``.

``nox`` with no arguments runs all four, as CI does. ``tests`` runs once per
distribution, each in an environment of its own: the core's tests with no
platform plugin installed (only their toy plugins and the example), then each
plugin's tests with the core and that plugin.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox


nox.options.sessions = ["lint", "types", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
PLUGINS = {
    "chatgpt": ROOT / "plugins" / "chatgpt",
    "claude": ROOT / "plugins" / "claude",
    "gemini": ROOT / "plugins" / "gemini",
}
"""The platform plugins kept in this repository, each its own distribution."""


def _install(session: nox.Session, *groups: str, plugins: tuple[str, ...] = ()) -> None:
    """The core (editable), the named groups of its dependencies, and the
    named plugins (editable) with their own ``tests`` group."""
    requirements: list[str] = []
    for group in groups:
        requirements.extend(nox.project.dependency_groups(PYPROJECT, group))
    editable = ["-e", "."]
    for name in plugins:
        folder = PLUGINS[name]
        editable += ["-e", str(folder.relative_to(ROOT))]
        plugin = nox.project.load_toml(folder / "pyproject.toml")
        requirements.extend(nox.project.dependency_groups(plugin, "tests"))
    session.install(*editable, *requirements)


@nox.session
@nox.parametrize("package", ["core", *PLUGINS])
def tests(session: nox.Session, package: str) -> None:
    """Run each distribution's tests (PostgreSQL-backed tests need a server,
    see README): ``nox -s tests`` runs all, ``nox -s "tests(package='core')"``
    one."""
    env = {"PYTHONHASHSEED": "0"}
    if package == "core":
        _install(session, "tests")
        session.run("pytest", *session.posargs, env=env)
        return
    _install(session, plugins=(package,))
    session.chdir(PLUGINS[package])
    session.run("pytest", *session.posargs, env=env)


@nox.session
def browser(session: nox.Session) -> None:
    """Only the HTML report's checks in a headless Chromium (``nox -s tests``
    runs them too): ``AIAUDIT_SCREENSHOT_DIR=shots nox -s browser`` keeps
    the screenshots to look at."""
    _install(session, "tests")
    session.run(
        "pytest", "tests/browser", *session.posargs, env={"PYTHONHASHSEED": "0"}
    )


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the connector conformance suite on every installed plugin with a sandbox.

    ``nox -s conformance -- --aiaudit-events 5000`` passes options through.
    """
    _install(session, "tests", plugins=tuple(PLUGINS))
    session.run("pytest", "--aiaudit-platform", "all", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def types(session: nox.Session) -> None:
    """Type-check the library and the in-tree plugins with mypy --strict."""
    _install(session, "typing", "tests", plugins=tuple(PLUGINS))
    session.run("mypy", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the docs strictly (broken links fail) and check the hook reference."""
    _install(session, "docs", "tests")
    session.run("pytest", "tests/test_docs.py", "-q")
    if session.posargs == ["serve"]:
        session.run("mkdocs", "serve")
    else:
        site = os.environ.get("AIAUDIT_DOCS_SITE", str(ROOT / ".nox" / "site"))
        session.run("mkdocs", "build", "--strict", "--site-dir", site)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (never part of the tests): ``nox -s bench``.

    ``nox -s bench -- --events 1000000`` passes options to ``bench/run.py``;
    ``nox -s bench -- profile`` runs ``bench/profiling.py`` (with py-spy) and
    ``nox -s bench -- sandbox`` the sandbox's own page-cost check.
    """
    _install(session, "tests", plugins=("chatgpt",))
    args = list(session.posargs)
    script = "bench/run.py"
    if args and args[0] == "profile":
        session.install("py-spy")
        script, args = "bench/profiling.py", args[1:]
    elif args and args[0] == "sandbox":
        script, args = "bench/sandbox_pages.py", args[1:]
    session.run("python", script, *args)


@nox.session
def chaos(session: nox.Session) -> None:
    """The long reliability runs: bigger chaos syncs (their waits skipped,
    their time budget kept), the real ``aiaudit sync`` through transient
    faults with real backoff, 20 SIGKILLs of a running sync, the bad-input
    corpus, the secrets scan.

    Each scenario prints requests, faults injected, retries, events
    expected and stored, duplicates, missing and quarantined (with reasons);
    any loss or duplicate fails the session.
    """
    _install(session, plugins=("chatgpt",))
    session.chdir(PLUGINS["chatgpt"])
    session.run(
        "pytest",
        "tests/reliability",
        "tests/integration/test_crash_resume.py",
        "-s",
        "-p",
        "no:logging",
        *session.posargs,
        env={"AIAUDIT_CHAOS": "long", "AIAUDIT_CRASH_KILLS": "20"},
    )
