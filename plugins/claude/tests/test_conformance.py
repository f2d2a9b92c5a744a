"""The conformance suite, run on this plugin as part of its own tests
(``pytest --aiaudit-platform claude`` from the repository root runs the
same checks)."""

from connector_core.testing import ConnectorConformance


class TestClaudeConformance(ConnectorConformance):
    platform = "claude"
