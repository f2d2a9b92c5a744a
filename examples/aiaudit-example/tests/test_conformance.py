"""The conformance suite, in the form an author keeps in their own tests.

``--aiaudit-platform example`` runs the same tests without this file; the
subclass is for a project that wants them in its ordinary test run.
"""

from connector_core.testing import ConnectorConformance


class TestExampleConformance(ConnectorConformance):
    platform = "example"
