"""The conformance suite for aiaudit connectors.

A connector is right when a host can rely on it without reading its code:
it loads by entry point, keeps its keys secret, answers bad credentials
with data, reads every event exactly once with checkpoints that resume
exactly, and fails with the core's typed errors; and a hostile server
(redirects, a cursor that never advances, poisoned records, events
published late) costs it neither data, nor its keys, nor an endless loop.
This package checks all of that against the plugin's own sandbox, offline,
in seconds.

Two ways to run it:

* ``pytest --aiaudit-platform NAME`` (repeatable; ``all`` for every
  installed plugin with a sandbox), through the pytest plugin
  :mod:`connector_core.testing.plugin`, which installing aiaudit registers;
* a subclass in the author's own tests::

      from connector_core.testing import ConnectorConformance

      class TestMyConnector(ConnectorConformance):
          platform = "myplatform"

What a sandbox can tell the suite (a refused and a restricted configuration,
the ids a complete read returns, its fault profiles) is described in
:mod:`connector_core.testing._details` and ``docs/connector-authors.md``.
"""

from __future__ import annotations

from connector_core.testing._details import (
    CONFORMANCE_KEY,
    DEFAULT_FAULT_PROFILES,
    FAULT_KINDS,
    OBSERVED_COUNTERS,
    ConformanceDetails,
    ConformanceDetailsError,
)
from connector_core.testing._harness import Harness, Reading, StreamRead
from connector_core.testing._resources import (
    capture_logs,
    single_attempt_transports,
    stop_half_way,
    track_sessions,
)
from connector_core.testing._sandbox import SandboxThread
from connector_core.testing.suite import (
    DEFAULT_SANDBOX_OPTIONS,
    ConnectorConformance,
    sandbox_options,
)


__all__ = [
    "CONFORMANCE_KEY",
    "DEFAULT_FAULT_PROFILES",
    "DEFAULT_SANDBOX_OPTIONS",
    "FAULT_KINDS",
    "OBSERVED_COUNTERS",
    "ConformanceDetails",
    "ConformanceDetailsError",
    "ConnectorConformance",
    "Harness",
    "Reading",
    "SandboxThread",
    "StreamRead",
    "capture_logs",
    "sandbox_options",
    "single_attempt_transports",
    "stop_half_way",
    "track_sessions",
]
