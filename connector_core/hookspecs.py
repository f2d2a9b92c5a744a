"""The hook specifications: the contract between aiaudit and its plugins.

There are two kinds of hook, both marked with :data:`hookimpl`:

*Plugin hooks* are module-level functions in a plugin module, found through
the ``aiaudit`` entry-point group. They are called once per process, on every
loaded plugin: they register connectors, contribute a sandbox server and add
commands to the CLI.

*Connector hooks* are the methods of a connector class, the operations of the
:class:`AIPlatformConnector` specification below. Each connector instance is
registered in a plugin manager of its own, so a call reaches exactly one
platform's implementation, while pluggy still checks every method name and
argument against this specification when the plugin loads: a misspelled
``get_ai_audit_log`` is an error at load time, not a silent no-op at run time.
The core registers default implementations after the connector's own
(``trylast``), so a connector may leave out the operations that can be derived
from others (the connection check, usage analytics, the generic audit-log
form, permission checks).

A hook implementation may accept any subset of the arguments its
specification names, in any order; pluggy passes them by name.

The reference with examples is ``docs/plugin-hooks.md``; a test keeps it in
step with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
    from datetime import datetime

    import click

    from connector_core.connector import Connector
    from connector_core.directory import DirectoryListing
    from connector_core.models import (
        AIAuditLog,
        AIAuditLogQuery,
        AIAuditLogResult,
        AICredentialValidation,
        AIDateRange,
        AuditLogEntry,
        AutomationEvent,
        ConnectionResult,
        OAuthCredentials,
        PermissionCheck,
        UsageAnalytics,
    )
    from connector_core.risk import RiskRule
    from connector_core.sandbox import SandboxProvider
    from connector_core.streams import StreamBatch, StreamInfo


__all__ = [
    "PROJECT",
    "AIPlatformConnector",
    "aiaudit_register_commands",
    "aiaudit_register_connectors",
    "aiaudit_sandbox",
    "hookimpl",
    "hookspec",
]

PROJECT = "aiaudit"
"""The pluggy project name and the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------
# Plugin hooks: called once per process on every loaded plugin module.
# ---------------------------------------------------------------------------


@hookspec
def aiaudit_register_connectors(register: Callable[..., None]) -> None:
    """Register the connector classes this plugin provides.

    Call ``register(ConnectorClass)`` once per platform, or
    ``register(ConnectorClass, sandbox=...)`` to contribute the platform's
    sandbox with it: a :class:`~connector_core.sandbox.SandboxProvider`, or a
    class or function returning one, called the first time a host asks (so
    the sandbox's code is imported only then). The class must carry
    the class attributes ``platform`` (a lowercase name such as ``"chatgpt"``),
    ``display_name`` and ``config_class`` (an attrs class; fields typed
    :class:`~connector_core.secrets.Secret` are secrets), and implement the
    :class:`AIPlatformConnector` operations as ``@hookimpl`` methods. The
    class is checked when it is registered; a broken class fails its plugin
    alone, and ``aiaudit plugins`` shows why.

    :param register: Call it with a connector class.

    Who implements this: every plugin that provides a platform.
    """


@hookspec(firstresult=True)
def aiaudit_sandbox(platform: str) -> SandboxProvider | None:
    """Return the local sandbox server for *platform*, if this plugin has one.

    The older way to contribute a sandbox, kept for existing plugins: a new
    one passes ``sandbox=`` to ``register``, which
    ``Registry.sandbox`` prefers.

    A sandbox is a real HTTP server on loopback that behaves like the
    platform's API. The demo, the conformance suite and the benchmarks run
    against it, so nothing in the project needs a paid account or the network.

    Stops at first non-None result.

    :param platform: The platform name the host asks about.
    :returns: A :class:`~connector_core.sandbox.SandboxProvider`, or ``None``
        when *platform* is not this plugin's.

    Who implements this: plugins written before ``register(..., sandbox=)``.
    """


@hookspec
def aiaudit_register_commands(cli: click.Group) -> None:
    """Add commands to the ``aiaudit`` command line.

    :param cli: The top-level click group; call ``cli.add_command(...)`` or
        decorate functions with ``@cli.command()``.

    Who implements this: plugins with platform-specific tools.
    """


@hookspec
def aiaudit_risk_rules() -> Sequence[RiskRule] | None:
    """Risk rules a plugin adds to the built-in ones (``docs/risk.md``).

    Return rules read with :func:`connector_core.risk.load_rules` from a
    TOML file the plugin ships. A rule with the id of a built-in one
    replaces it; a host's own files (``AIAUDIT_RISK_RULES``, ``--rules``)
    come after and replace both.

    Who implements this: plugins whose platform has events the built-in
    rules cannot name (the rules speak the normalized vocabulary, so most
    need none).
    """


# ---------------------------------------------------------------------------
# Connector hooks: the operations of one connector instance.
# ---------------------------------------------------------------------------


class AIPlatformConnector:
    """The operations a connector implements, one hook each.

    Every hook may also take ``connector``, the
    :class:`~connector_core.connector.Connector` handle that wraps the
    instance, which gives access to the other operations.

    Operations marked *required* must be implemented; the others have core
    defaults built from the required ones. All are ``async def``;
    :meth:`read_stream` and :meth:`stream_ai_audit_logs` are async
    generators.
    """

    @hookspec(firstresult=True)
    def authenticate(
        self, connector: Connector, credentials: OAuthCredentials | None
    ) -> Awaitable[ConnectionResult] | None:
        """Check that the credentials reach the platform.

        The core default derives the answer from
        :meth:`validate_ai_credentials` (for the configured credentials
        only); implement it to report account ids and held permissions.

        Wrong credentials are an answer, not an error: return a result with
        ``success=False`` and ``error`` set. Raise only for failures that say
        nothing about the credentials (the host is unreachable).

        :param credentials: Credentials handed over by a host application
            (the OAuth shape of the shared types); ``None`` means use the
            connector's own configuration.
        :returns: A :class:`~connector_core.models.ConnectionResult`.
        """

    @hookspec(firstresult=True)
    def list_streams(self, connector: Connector) -> Awaitable[list[StreamInfo]] | None:
        """Name the feeds this connector reads. *Required.*

        Each :class:`~connector_core.streams.StreamInfo` is read with
        :meth:`read_stream` and checkpointed on its own. List only the
        streams the configuration can reach (a connector configured for one
        of two APIs lists that API's streams), in a stable order.

        :returns: A list of :class:`~connector_core.streams.StreamInfo`.
        """

    @hookspec(firstresult=True)
    def read_stream(
        self,
        connector: Connector,
        stream: str,
        checkpoint: Mapping[str, Any] | None,
        query: AIAuditLogQuery,
    ) -> AsyncIterator[StreamBatch] | None:
        """Read one stream from *checkpoint* on, in batches. *Required.*

        Implement it as an ``async def`` generator of
        :class:`~connector_core.streams.StreamBatch`. A batch's
        ``checkpoint``, when set, is a JSON-compatible state from which a
        later read resumes with nothing lost; records that cannot be
        normalized go in ``quarantined``, never dropped. Memory stays bounded
        by a batch. ``query`` bounds the time range and carries normalized
        actions in ``event_types`` to push down to the platform's filters;
        a stream none of whose actions is asked for returns at once, without
        a request. Reading the same stretch twice with a page hint
        (``query.limit`` set) yields the same logs in the same order, which
        is what makes the core's page cursors exact; without one the same
        logs in any order (several windows at once, see
        :mod:`connector_core.windows`), and a read resumed from a checkpoint
        may return again logs yielded ahead of it, never lose one.

        ``query.limit``, when set, is a hint from the core's pages: how many
        logs the page still needs from *checkpoint*. A page resumes from its
        cursor's checkpoint, so a reader that can resume inside a stretch
        may ask its platform for about that many, checkpoint after each
        platform page and fetch nothing ahead: the page then costs about one
        request, not a re-read of the stretch. Ignoring it is correct, only
        dearer. ``None`` (the sync engine, the plain stream): read to the
        end, for throughput.

        :param stream: A name from :meth:`list_streams`.
        :param checkpoint: A checkpoint this stream yielded before, or
            ``None`` to start at ``query.start_date``. With a checkpoint,
            resume from it and ignore ``query.start_date`` (the sync engine
            passes 1970-01-01 then); one the reader cannot read raises
            :class:`~connector_core.exceptions.CheckpointError`.
        :param query: Time range and filters; ``limit`` is the page hint
            above, ``cursor`` is ignored.
        """

    @hookspec(firstresult=True)
    def get_ai_audit_logs(
        self, connector: Connector, query: AIAuditLogQuery
    ) -> Awaitable[AIAuditLogResult] | None:
        """Return one page of normalized audit logs.

        ``query.cursor`` is ``None`` for the first page and otherwise a
        ``next_cursor`` this connector returned; the page that follows starts
        exactly where the previous one ended. The core default walks the
        streams in order with a cursor of (stream, checkpoint, offset), so a
        connector needs this only to use a platform's own paging. A page of
        the default that fills exactly at a checkpoint ends there with
        ``has_more`` true, without reading on: when the logs end there too,
        the next page is empty.

        :param query: Time range, filters, page size and cursor.
        :returns: An :class:`~connector_core.models.AIAuditLogResult`.
        """

    @hookspec(firstresult=True)
    def stream_ai_audit_logs(
        self, connector: Connector, query: AIAuditLogQuery
    ) -> AsyncIterator[AIAuditLog] | None:
        """Yield every normalized audit log in the query's range.

        The core default reads every stream from the start of the range.
        ``query.limit`` and ``query.cursor`` are ignored.

        :param query: Time range and filters.
        :returns: An async iterator of :class:`~connector_core.models.AIAuditLog`.
        """

    @hookspec(firstresult=True)
    def validate_ai_credentials(
        self, connector: Connector
    ) -> Awaitable[AICredentialValidation] | None:
        """Check the configured credentials and their permissions. *Required.*

        :returns: An :class:`~connector_core.models.AICredentialValidation`
            whose ``missing_permissions`` names what the key cannot do.
        """

    @hookspec(firstresult=True)
    def get_usage_analytics(
        self, connector: Connector, period: AIDateRange
    ) -> Awaitable[UsageAnalytics] | None:
        """Summarize usage over *period*.

        The core default streams the period's logs through
        :class:`~connector_core.analytics.UsageAccumulator`; implement it to
        add what only the platform knows (model usage, the full user list).

        :param period: The time range to summarize.
        :returns: A :class:`~connector_core.models.UsageAnalytics`.
        """

    @hookspec(firstresult=True)
    def validate_permissions(
        self, connector: Connector
    ) -> Awaitable[PermissionCheck] | None:
        """Probe each surface the connector reads and name what is missing.

        The core default derives the answer from
        :meth:`validate_ai_credentials`.

        :returns: A :class:`~connector_core.models.PermissionCheck`.
        """

    @hookspec(firstresult=True)
    def discover_automations(
        self, connector: Connector
    ) -> Awaitable[list[AutomationEvent]] | None:
        """List the automations users built on the platform (custom GPTs, bots).

        There is no default: a connector without it reports the operation as
        not supported rather than claiming there are none.

        :returns: A list of :class:`~connector_core.models.AutomationEvent`.
        """

    @hookspec(firstresult=True)
    def read_directory(
        self, connector: Connector
    ) -> Awaitable[DirectoryListing] | None:
        """List every member of the platform's directory, whether they acted or not.

        There is no default: a connector whose platform (or configuration)
        has no member listing leaves it out, and the core then knows only
        the users who acted. The sync engine calls it after the streams
        and stores the listing as the connection's directory, marking the
        members it no longer lists removed (see
        :mod:`connector_core.directory`); ``total_users`` counts from it.

        Read the whole listing; a member record that cannot be read goes in
        ``quarantined``, never dropped and never raised. A member's
        ``user_id`` is the id the connector's audit events name them by.

        :returns: A :class:`~connector_core.directory.DirectoryListing`.
        """

    @hookspec(firstresult=True)
    def get_audit_logs(
        self, connector: Connector, since: datetime
    ) -> Awaitable[list[AuditLogEntry]] | None:
        """Return the platform's audit trail since *since*, in the generic form.

        The core default converts :meth:`stream_ai_audit_logs` output.

        :param since: An aware datetime; events at or after it are returned.
        :returns: A list of :class:`~connector_core.models.AuditLogEntry`.
        """

    @hookspec
    def aclose(self, connector: Connector) -> Awaitable[Any] | None:
        """Release what the connector holds: sessions, files, tasks.

        Every implementation is called (not only the first), and each result
        is awaited; the handle calls this once, from ``Connector.aclose``.
        """
