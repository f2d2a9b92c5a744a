"""A second platform with a sandbox, for tests that need several platforms
from the real command line: the example plugin's connector and sandbox
under another name, installed for one process at a time (a distribution on
its ``PYTHONPATH``, with its entry point), as a user installs a plugin."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from connector_core.testing.processes import clean_env


if TYPE_CHECKING:
    from pathlib import Path


SECOND = textwrap.dedent(
    '''
    """A second platform with a sandbox: the example plugin's, renamed."""

    import contextlib

    import attrs
    from aiaudit_example import ExampleConnector
    from aiaudit_example.sandbox import ExampleSandboxProvider

    from connector_core import hookimpl


    class SecondConnector(ExampleConnector):
        platform = "second"
        display_name = "Second Reports"


    class SecondSandboxProvider:
        @contextlib.asynccontextmanager
        async def start(self, options):
            async with ExampleSandboxProvider().start(options) as running:
                yield attrs.evolve(running, platform="second")


    @hookimpl
    def aiaudit_register_connectors(register):
        register(SecondConnector, sandbox=SecondSandboxProvider)
    '''
)


def second_installed(folder: Path) -> dict[str, str]:
    """The environment of a process in which the second plugin is installed
    (under *folder*) and only the two plugins load, whatever else this
    environment holds."""
    site = folder / "site"
    info = site / "aiaudit_second-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: aiaudit-second\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text("[aiaudit]\nsecond = aiaudit_second\n")
    (site / "aiaudit_second.py").write_text(SECOND)
    return clean_env(PYTHONPATH=str(site), AIAUDIT_PLUGINS="example,second")
