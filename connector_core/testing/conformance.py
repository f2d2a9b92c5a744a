"""The test module ``pytest --aiaudit-platform NAME`` collects.

The pytest plugin adds this file to the paths pytest collects and runs
:class:`TestConformance` once per platform named on the command line.
"""

from __future__ import annotations

from connector_core.testing.suite import ConnectorConformance


__all__ = ["TestConformance"]


class TestConformance(ConnectorConformance):
    """The conformance suite, once per ``--aiaudit-platform``."""
