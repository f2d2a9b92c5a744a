"""Typed checkpoints: one class per stream reader, read back one way.

A checkpoint is stored as JSON and handed back to the reader that wrote it,
maybe by a later version of that reader, maybe after a person edited it by
hand. A reader that picks the dict apart itself ends up with as many ways of
reading it as it has fields, and with ``KeyError`` tracebacks for the cases
it forgot. Here a reader declares what it stores once, as a frozen attrs
class deriving from :class:`Checkpoint`, and gets:

* :meth:`Checkpoint.to_dict`: the JSON-compatible dict to yield in a
  :class:`~connector_core.streams.StreamBatch`, tagged with the class's
  :attr:`~Checkpoint.VERSION` under the key ``"v"``.
* :meth:`Checkpoint.from_dict`: the stored dict read back strictly (no
  coercion: ``"17"`` is not an integer, a time must carry its zone, a key the
  class does not name is refused), after the migrations of an older version
  have run. Anything wrong is a
  :class:`~connector_core.exceptions.CheckpointError` naming the stream and
  each problem with its path (``window[1]: expected an integer, got a
  boolean``), never the stored values: a checkpoint may hold ids, and the
  error ends up in logs and sync reports.

Fields may be ``str``, ``int``, ``float``, ``bool``, ``datetime`` (stored as
ISO 8601 in UTC, ``...Z``; read back only with a zone),
:class:`~connector_core.cursors.SeenIds` (stored as its compact string, read
back from a plain list of ids too), ``X | None``, tuples (``tuple[X, ...]``
or of a fixed length, stored as arrays), nested attrs classes, and ``Any``
(taken as it is). A field with a default may be missing from the dict; no
field may be named ``v``. ``VERSION`` and ``MIGRATIONS`` are class
attributes (annotated, if at all, as ``ClassVar``), not fields.
Validators (``attrs.field(validator=...)``) check what types cannot
(``after`` not empty, a window's ends in order); their ``ValueError``
becomes the reason, so it names the field and never the value. (attrs' own
validators quote the value: write your own.)

Versions. A dict stored without ``"v"`` was written before its reader
tagged versions, and is read as version 1. When a reader's shape changes,
raise :attr:`~Checkpoint.VERSION` and give, in
:attr:`~Checkpoint.MIGRATIONS`, a function from each older version's dict
to the next version's; they run in turn up to the current one. A migration
returns ``None`` when the older checkpoint holds no position the reader can
trust: the read starts afresh from the query's start, as with no checkpoint.
A dict of a version newer than the class's is refused: a newer release of
the reader wrote it, and guessing would skip or repeat events.

::

    >>> from datetime import UTC, datetime
    >>> import attrs
    >>> from connector_core.checkpoints import Checkpoint
    >>> from connector_core.cursors import SeenIds

    >>> def end_from_after(old):  # version 1 named the end "after"
    ...     return {"end": old.pop("after", None), **old}

    >>> @attrs.frozen
    ... class FilesCheckpoint(Checkpoint):
    ...     VERSION = 2
    ...     MIGRATIONS = {1: end_from_after}
    ...     end: datetime
    ...     seen: SeenIds = attrs.field(factory=SeenIds)

    >>> point = FilesCheckpoint(datetime(2025, 3, 1, tzinfo=UTC), SeenIds(["f1"]))
    >>> stored = point.to_dict()
    >>> stored
    {'v': 2, 'end': '2025-03-01T00:00:00Z', 'seen': 'YWGwnB4/Oos='}
    >>> FilesCheckpoint.from_dict("files", stored) == point
    True
    >>> FilesCheckpoint.from_dict("files", {"after": "2025-03-01T00:00:00Z"}).end
    datetime.datetime(2025, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> FilesCheckpoint.from_dict("files", {"v": 2, "end": "yesterday"})
    Traceback (most recent call last):
    ...
    connector_core.exceptions.CheckpointError: the checkpoint of stream 'files' \
is unreadable: end: expected an ISO 8601 time, got a string that is not one
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Self

import cattrs

from connector_core.cursors import SeenIds
from connector_core.exceptions import CheckpointError
from connector_core.wire import kind, short_repr, strict_converter


__all__ = ["VERSION_KEY", "Checkpoint", "Migration"]

VERSION_KEY: Final = "v"
"""The key a stored checkpoint's version is kept under: short, because a
checkpoint also travels in every page cursor a host is handed."""

Migration = Callable[[dict[str, Any]], dict[str, Any] | None]
"""A function from one version's dict (a copy, without ``"v"``, free to
change) to the next version's, or ``None``: no position to resume from."""


class Checkpoint:
    """The base of a reader's checkpoint class: a frozen attrs class.

    Attributes:
        VERSION: The version :meth:`to_dict` writes; raise it when the
            shape changes, with a migration from the one before.
        MIGRATIONS: For each older version ``n`` (1 to ``VERSION - 1``), the
            function turning its dict into version ``n + 1``'s.
    """

    __slots__ = ()

    VERSION: ClassVar[int] = 1
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A missing migration would surface only when an old checkpoint is
        # met, in a user's sync: refuse the class where it is defined.
        super().__init_subclass__(**kwargs)
        annotations = inspect.get_annotations(cls)
        if VERSION_KEY in annotations:
            raise TypeError(f"{cls.__name__}: no field may be named {VERSION_KEY!r}")
        for name in ("VERSION", "MIGRATIONS"):
            if name in annotations and "ClassVar" not in str(annotations[name]):
                raise TypeError(f"{cls.__name__}.{name} must be a ClassVar")
        version: object = cls.VERSION
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise TypeError(f"{cls.__name__}.VERSION must be an integer from 1")
        missing = [n for n in range(1, version) if not callable(cls.MIGRATIONS.get(n))]
        extra = sorted(n for n in cls.MIGRATIONS if not 1 <= n < version)
        if missing or extra:
            raise TypeError(
                f"{cls.__name__}.MIGRATIONS must map each version from 1 to "
                f"{version - 1} to a function (missing {missing or 'none'}, "
                f"not older than VERSION {extra or 'none'})"
            )

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint to yield and store: JSON-compatible, tagged with
        :attr:`VERSION`."""
        fields: dict[str, Any] = _converter.unstructure(self, type(self))
        return {VERSION_KEY: self.VERSION, **fields}

    @classmethod
    def from_dict(cls, stream: str, stored: object) -> Self | None:
        """The checkpoint *stored* for *stream*, read as this class.

        ``None`` when nothing is stored (``None`` or an empty object), or
        when a migration found no position to resume from: the read starts
        at the query's start, as a first read does.

        Raises:
            CheckpointError: *stored* is not an object, is of a version
                newer than :attr:`VERSION`, or does not fit this class.
        """
        if stored is None:
            return None
        if not isinstance(stored, Mapping):
            raise CheckpointError(stream, f"not an object, {kind(stored)}")
        if not stored:
            return None
        data = dict(stored)
        version = data.pop(VERSION_KEY, 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise CheckpointError(
                stream, f"{VERSION_KEY}: expected a version number from 1"
            )
        if version > cls.VERSION:
            raise CheckpointError(
                stream,
                f"written by a newer release of its reader (version {version}; "
                f"this one reads versions up to {cls.VERSION})",
            )
        for older in range(version, cls.VERSION):
            try:
                migrated = cls.MIGRATIONS[older](data)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise CheckpointError(
                    stream,
                    f"version {older} cannot be carried to version {older + 1} "
                    f"({type(exc).__name__})",
                ) from None
            if migrated is None:
                return None
            data = dict(migrated)
        try:
            structured: Self = _converter.structure(data, cls)
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
            raise CheckpointError(stream, _describe(exc)) from None
        return structured


# -- strict structuring, with reasons that never quote a value ----------------


def _structure_time(value: object, _cls: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 time with a zone, {kind(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "expected an ISO 8601 time, got a string that is not one"
        ) from None
    if moment.tzinfo is None:
        # A guessed zone would move the position by hours.
        raise ValueError("expected an ISO 8601 time with a zone, got one without")
    return moment.astimezone(UTC)


def _unstructure_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        # A programming error, not a stored one: a naive time would be read
        # back in the machine's zone, hours off.
        raise ValueError("a checkpoint's times must carry a zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _structure_seen(value: object, _cls: Any) -> SeenIds:
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise TypeError("expected a list of ids, got an array holding a non-string")
        return SeenIds(value)
    if not isinstance(value, str):
        raise TypeError(f"expected an encoded id set or a list of ids, {kind(value)}")
    try:
        return SeenIds.decode(value)
    except ValueError as exc:
        # SeenIds words its reasons without the value (base64's own, or the
        # length).
        raise ValueError(str(exc)) from None


def _unstructure_tuple(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    args = tp.__args__
    if args[-1:] == (Ellipsis,):
        hook = converter.get_unstructure_hook(args[0])
        return lambda value: [hook(item) for item in value]
    hooks = [converter.get_unstructure_hook(arg) for arg in args]
    return lambda value: [h(item) for h, item in zip(hooks, value, strict=True)]


def _is_tuple(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) is tuple


def _build_converter() -> cattrs.Converter:
    # The wire's strict converter (no coercion, paths on errors), its
    # refusals naming JSON types, never values: a checkpoint may hold ids.
    converter = strict_converter(forbid_extra_keys=True, quote_values=False)
    converter.register_structure_hook(datetime, _structure_time)
    converter.register_structure_hook(SeenIds, _structure_seen)
    converter.register_unstructure_hook(datetime, _unstructure_time)
    converter.register_unstructure_hook(SeenIds, SeenIds.encode)
    converter.register_unstructure_hook_factory(_is_tuple, _unstructure_tuple)
    return converter


_converter: Final = _build_converter()


def _format_error(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required but missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        keys = ", ".join(sorted(map(short_repr, exc.extra_fields)))
        return f"unexpected key(s) {keys}"
    if isinstance(exc, TypeError | ValueError):
        # The hooks above and the classes' validators word these, without
        # the values; anything else is named by its type alone.
        return str(exc) or type(exc).__name__
    return type(exc).__name__


def _describe(exc: BaseException) -> str:
    """Each problem as ``path: problem``, joined by ``;``."""
    problems = []
    for line in cattrs.transform_error(exc, path="", format_exception=_format_error):
        problem, _, path = line.rpartition(" @ ")
        path = path.lstrip(".")
        problems.append(f"{path}: {problem}" if path else problem)
    return "; ".join(problems)
