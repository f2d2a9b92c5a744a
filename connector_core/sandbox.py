"""What a plugin's sandbox server looks like to the host.

A sandbox is a real HTTP server on loopback that speaks the platform's API
with generated data. It lets the demo, the conformance suite and the
benchmarks run a connector end to end with no account and no network. A
plugin contributes one through the ``aiaudit_sandbox`` hook; the host starts
it as an async context manager and builds a connector from the configuration
it hands back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import attrs


if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager


__all__ = ["RunningSandbox", "SandboxOptions", "SandboxProvider"]


@attrs.frozen(kw_only=True)
class SandboxOptions:
    """How to start a sandbox.

    Attributes:
        seed: Same seed, same data: tests compare against ground truth.
        events: Roughly how many audit events to generate.
        faults: A named fault profile (the plugin documents its names), or
            ``None`` for a well-behaved server.
        fault_rate: The share of requests a fault profile disturbs, 0 to 1.
        days: How many days of history to generate.
        end: The end of generated history (exclusive); by default the start
            of the current UTC day, so a demo's "last month" has data, while
            tests pin it for data that never moves.
        rate_limit: Requests per second a key may make before the server
            answers 429 with ``Retry-After``; ``None`` for no limit.
        host: The address to bind; loopback unless a test says otherwise.
        port: The port to bind; 0 picks a free one.
        ground_truth_dir: Where to write every record the sandbox serves,
            as JSON lines, so a test can compare a client's result with it.
        publish_delay: Seconds after it starts serving before a sandbox
            publishes the events it holds back as late (a plugin's fault
            profile for late publication, e.g. ChatGPT's ``late``): a sync
            before that misses them, one after must find them. Ground truth
            always includes them.
    """

    seed: int = 0
    events: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    faults: str | None = None
    fault_rate: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )
    days: int = attrs.field(default=30, validator=attrs.validators.ge(1))
    end: datetime | None = None
    rate_limit: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0.0))
    )
    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=0, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    ground_truth_dir: str | None = None
    publish_delay: float = attrs.field(default=2.0, validator=attrs.validators.ge(0.0))


@attrs.frozen(kw_only=True)
class RunningSandbox:
    """A started sandbox.

    Attributes:
        platform: The platform it imitates.
        urls: Named base URLs (a platform may serve several APIs).
        config: Connector configuration pointing at this sandbox, with the
            sandbox's own keys; ``Registry.create`` accepts it as is.
        details: Anything else the plugin wants to show (ground-truth path,
            fault profile, event counts).
    """

    platform: str
    urls: Mapping[str, str]
    config: Mapping[str, Any]
    details: Mapping[str, Any] = attrs.field(factory=dict)


class SandboxProvider(Protocol):
    """Starts a plugin's sandbox; returned by the ``aiaudit_sandbox`` hook."""

    def start(
        self, options: SandboxOptions
    ) -> AbstractAsyncContextManager[RunningSandbox]:
        """Start serving; the server stops when the context exits."""
        ...
