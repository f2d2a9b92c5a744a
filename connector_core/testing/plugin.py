"""The pytest plugin: ``pytest --aiaudit-platform NAME``.

Installing aiaudit registers this module in the ``pytest11`` entry-point
group, so the option is there in every pytest run of the environment; name
it with ``-p connector_core.testing.plugin`` where plugins are not
autoloaded. Without the option the plugin does nothing.

With it, pytest collects the conformance suite once per named platform
(``all`` names every installed plugin that has a sandbox). Given no paths,
pytest runs only the suite, not the project's own tests; given paths, it
runs the suite beside them. ``--aiaudit-events``, ``--aiaudit-days`` and
``--aiaudit-seed`` size the sandboxes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest


__all__ = ["ALL", "pytest_addoption", "pytest_configure", "pytest_generate_tests"]

ALL: Final = "all"
_PLATFORMS = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiaudit", "aiaudit connector conformance")
    group.addoption(
        "--aiaudit-platform",
        action="append",
        default=[],
        metavar="NAME",
        dest="aiaudit_platforms",
        help="Run the connector conformance suite against NAME's sandbox "
        "(repeatable; 'all' for every installed plugin with a sandbox).",
    )
    for name, what in (
        ("events", "roughly how many events the sandboxes generate (1500)"),
        ("days", "how many days of history they generate (14)"),
        ("seed", "the seed of their data"),
    ):
        group.addoption(
            f"--aiaudit-{name}",
            type=int,
            default=None,
            metavar="N",
            dest=f"aiaudit_{name}",
            help=f"Conformance suite: {what}.",
        )


def _platforms(names: list[str]) -> list[str]:
    """The platforms to test, checked now so a typo is a usage error.

    Raises:
        pytest.UsageError: A name no loaded plugin provides, or ``all`` in an
            environment without a sandbox.
    """
    from connector_core.registry import Registry  # noqa: PLC0415 - only when asked

    registry = Registry.load()
    problems = [
        f"plugin {info.name!r} failed to load: {info.error}"
        for info in registry.plugins
        if info.status == "failed"
    ]
    wanted: list[str] = []
    for name in names:
        if name == ALL:
            found = [p for p in registry.platforms if registry.sandbox(p) is not None]
            if not found:
                raise pytest.UsageError(
                    "--aiaudit-platform all: no installed plugin has a sandbox"
                    + "".join(f"; {p}" for p in problems)
                )
            wanted.extend(found)
        elif name not in registry.platforms:
            loaded = ", ".join(registry.platforms) or "none"
            raise pytest.UsageError(
                f"--aiaudit-platform {name}: no installed plugin provides it "
                f"(loaded platforms: {loaded})" + "".join(f"; {p}" for p in problems)
            )
        else:
            wanted.append(name)
    return list(dict.fromkeys(wanted))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    names: list[str] = config.getoption("aiaudit_platforms", default=[]) or []
    if not names:
        return
    config.stash[_PLATFORMS] = _platforms(names)
    from connector_core.testing import conformance  # noqa: PLC0415 - only when asked

    suite = str(Path(conformance.__file__).resolve())
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        config.args.append(suite)
    else:
        config.args[:] = [suite]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    platforms = metafunc.config.stash.get(_PLATFORMS, None)
    if not platforms or "aiaudit_platform" not in metafunc.fixturenames:
        return
    from connector_core.testing.conformance import TestConformance  # noqa: PLC0415

    if metafunc.cls is TestConformance:
        metafunc.parametrize(
            "aiaudit_platform", platforms, ids=platforms, scope="class"
        )
