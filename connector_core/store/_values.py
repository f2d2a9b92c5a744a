"""Python values as the store's columns hold them, and back.

Times are stored as fixed-width ISO text or as microseconds since the epoch,
configurations and checkpoints as strict JSON text, and a record's text cut
to what both databases can index: one set of conversions, so both stores
write, compare and read back the same values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

from connector_core.exceptions import StoreError
from connector_core.models import ensure_utc
from connector_core.secrets import Secret


__all__ = ["COLUMN_MAX_BYTES", "column_text", "from_us", "to_us"]


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_INT64: Final = range(-(2**63), 2**63)
# orjson serializes datetimes, dataclasses and the like natively; passing
# them through to the (absent) default makes them errors instead, so a
# checkpoint or configuration is strictly JSON and loads back identical.
_STRICT_JSON: Final = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_SECRET_PREFIXES: Final = ("sk-",)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(value: dt.datetime) -> str:
    # Fixed width, so the text sorts in time order in SQL too.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def to_us(value: dt.datetime) -> int:
    """Microseconds since the epoch: exact, since datetimes stop there too."""
    return (ensure_utc(value) - _EPOCH) // _MICROSECOND


def from_us(value: int) -> dt.datetime:
    """The UTC datetime of :func:`to_us`'s *value*."""
    return _EPOCH + dt.timedelta(microseconds=value)


def _strict_json(value: object, what: str) -> str:
    try:
        return orjson.dumps(value, option=_STRICT_JSON).decode()
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise StoreError(f"{what} is not JSON-serializable: {exc}") from None


def _refuse_secrets(value: object, name: str, path: str = "config") -> None:
    """Refuse configurations that carry a key instead of a reference.

    The caller is meant to have replaced every secret by ``{"env": ...}``;
    this is the last line of defence, because a key written to the store
    ends up in backups and exports where nobody expects one.
    """
    why = (
        f"refusing to save connection {name!r}: {path} holds"
        " {what}; the store must never hold a key (it ends up in backups and"
        " exports), so save a reference such as {{'env': 'VARIABLE'}} instead"
    )
    if isinstance(value, Secret):
        raise StoreError(why.format(what="a secret value"))
    if isinstance(value, str) and value.startswith(_SECRET_PREFIXES):
        raise StoreError(why.format(what="what looks like an API key ('sk-...')"))
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_secrets(item, name, f"{path}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_secrets(item, name, f"{path}[{index}]")


def _plain(value: object) -> object:
    # Mappings and tuples the caller built become the dicts and lists JSON has.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


COLUMN_MAX_BYTES: Final = 512
"""The most UTF-8 bytes a record's text takes in a column.

Keys and indexed columns (an event's id, its user id, action, model...)
must fit a btree index row, which PostgreSQL caps at about 2,700 bytes for
all the columns of an index together; four of these stay below that."""

_ALTERED: Final = "\u2026sha256:"
"""What ends a column value that is not the record's text as it came:
the SHA-256 (hex) of the original follows."""
_DIGEST_CHARS: Final = 64


def column_text(value: Any) -> Any:
    """*value* as a column of the stores holds it: itself, when both
    databases can index it as it is.

    Otherwise (a NUL character, which PostgreSQL text cannot hold; a lone
    surrogate, which neither can encode; more than :data:`COLUMN_MAX_BYTES`
    bytes, which no index takes) the value is cut and cleaned, and ends
    with ``…sha256:`` and the digest of the original: distinct values stay
    distinct, so keys stay unique, and the same value always gives the same
    text, so filters and re-reads find it. The event's document keeps the
    original, which is what reading the store returns.

    Cutting, rather than quarantining the event: the event is real activity
    and belongs in the log and the usage figures; only the copy made for
    indexing is shortened, the same way in SQLite and PostgreSQL.
    """
    if not isinstance(value, str):
        # A value forced past the model's types: the database says what
        # it makes of it, as before.
        return value
    if value.isascii():
        if len(value) <= COLUMN_MAX_BYTES and "\x00" not in value:
            return value
    elif "\x00" not in value:
        try:
            if len(value.encode()) <= COLUMN_MAX_BYTES:
                return value
        except UnicodeEncodeError:
            pass
    original = value.encode(errors="surrogatepass")
    digest = hashlib.sha256(original).hexdigest()
    room = COLUMN_MAX_BYTES - len(_ALTERED.encode()) - _DIGEST_CHARS
    kept = original.decode(errors="replace").replace("\x00", "\ufffd")
    kept = kept.encode()[:room].decode(errors="ignore")
    return f"{kept}{_ALTERED}{digest}"
