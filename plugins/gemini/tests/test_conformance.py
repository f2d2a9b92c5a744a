"""The conformance suite, run on this plugin as part of its own tests
(``pytest --aiaudit-platform gemini`` from the repository root runs the
same checks).

The Reports API keeps 180 days (``GeminiConnector.retention``), so the suite
tests a history ending today rather than its pinned date. The configuration
names a service-account key file rather than holding a secret; the sandbox
lists what the connector comes to hold (the private key, the tokens it
issues) as ``held_secrets``, and the suite looks for them in logs, errors and
reprs.
"""

from connector_core.testing import ConnectorConformance


class TestGeminiConformance(ConnectorConformance):
    platform = "gemini"
