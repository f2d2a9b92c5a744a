"""Guards for listing loops, and a compact set of ids for checkpoints.

A listing paged by a cursor ends when the server says so (``has_more``
false). A server that keeps saying "more" without moving (the same page
again, the same ``last_id``, a time cursor that does not advance or goes
back) turns a naive loop into an endless one: thousands of requests a
minute, and memory growing with every page kept. Pagination that does not
advance is not a transient fault to retry, it is an answer the API does not
promise, so the guards here raise :class:`~connector_core.exceptions.SchemaError`
naming the listing, the cursor and the page, and the stream stops with that
reason instead of spinning.

* :class:`CursorGuard` remembers the opaque cursors (``last_id``, a page
  token) one listing has returned and refuses one that comes back.
* :class:`TimeCursorGuard` holds a time cursor (``last_end_time``) to move
  strictly forward.

Both cost a set lookup or a comparison per page, nothing per record, and
are meant for one listing (one query): create a new guard for each.

:class:`SeenIds` is the other half of reading a feed whose events may be
published late: a read re-reads the trailing stretch it already covered and
skips the ids it delivered there, which travel in the checkpoint. Stored as
64-bit digests, an id costs about 11 characters of checkpoint whatever its
own length. It is a field type of :class:`~connector_core.checkpoints.Checkpoint`
classes, stored as :meth:`SeenIds.encode`'s string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING, Final

from connector_core.exceptions import SchemaError


if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime


__all__ = ["CursorGuard", "SeenIds", "TimeCursorGuard"]

_DIGEST_SIZE: Final = 8


class CursorGuard:
    """The cursors one listing has returned; a repeat is a :class:`SchemaError`.

    Call :meth:`advance` with each page's cursor before asking for the next
    page. A cursor seen before means the next request would fetch a page
    already read: the listing would never end.

    Attributes:
        listing: What is listed, for the error message (``"gpts"``).
        name: The cursor's name in the API (``"last_id"``).
        pages: Pages checked so far.
    """

    def __init__(self, listing: str, name: str = "last_id") -> None:
        self.listing = listing
        self.name = name
        self.pages = 0
        self._seen: dict[str, int] = {}

    def advance(self, cursor: str) -> None:
        """Record the cursor of the next page (page numbers count from 1).

        Raises:
            SchemaError: *cursor* was already returned by an earlier page.
        """
        self.pages += 1
        first = self._seen.setdefault(cursor, self.pages)
        if first != self.pages:
            raise SchemaError(
                f"{self.listing}: page {self.pages} returned {self.name} "
                f"{cursor!r} again (first returned by page {first}) with more "
                "to come: the listing does not advance"
            )


class TimeCursorGuard:
    """A time cursor that must move strictly forward, page after page.

    Attributes:
        listing: What is listed, for the error message.
        name: The cursor's name in the API (``"last_end_time"``).
        pages: Pages checked so far.
        last: The latest cursor accepted.
    """

    def __init__(self, listing: str, name: str) -> None:
        self.listing = listing
        self.name = name
        self.pages = 0
        self.last: datetime | None = None

    def advance(self, cursor: datetime, *, floor: datetime | None = None) -> None:
        """Accept the next page's *cursor*; *floor* is the bound the page was
        asked with (``after``), below which no answer may point.

        Raises:
            SchemaError: *cursor* is not later than the last one, or is
                before *floor*.
        """
        self.pages += 1
        if floor is not None and cursor < floor:
            raise SchemaError(
                f"{self.listing}: page {self.pages} returned {self.name} "
                f"{cursor.isoformat()}, before the {floor.isoformat()} it was "
                "asked for: the cursor went back"
            )
        if self.last is not None and cursor <= self.last:
            how = "repeated" if cursor == self.last else "went back to"
            raise SchemaError(
                f"{self.listing}: page {self.pages} {how} {self.name} "
                f"{cursor.isoformat()} (the page before ended at "
                f"{self.last.isoformat()}) with more to come: the listing does "
                "not advance"
            )
        self.last = cursor


class SeenIds:
    """A set of ids, kept as 64-bit digests, that fits in a checkpoint.

    A checkpoint travels with every stored batch and every page cursor, so
    it should stay small; a feed's ids are often long (``audit_log-...``,
    UUIDs). Digests of 8 bytes make the chance that a new id is taken for a
    delivered one about ``n * m / 2**64`` for ``n`` new and ``m`` remembered
    ids: below 1e-11 for ten thousand of each.

    Two sets are equal when they hold the same digests, so checkpoints that
    hold them compare by value.
    """

    __slots__ = ("_digests", "_encoded")

    # Mutable, so not hashable, like the set it wraps.
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._digests: set[bytes] = {_digest(i) for i in ids}
        self._encoded: str | None = None

    def __contains__(self, rid: object) -> bool:
        return isinstance(rid, str) and _digest(rid) in self._digests

    def __len__(self) -> int:
        return len(self._digests)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeenIds):
            return NotImplemented
        return self._digests == other._digests

    def __repr__(self) -> str:
        # The count only: the digests say nothing to a reader of a log.
        return f"<SeenIds of {len(self._digests)} ids>"

    def add(self, rid: str) -> None:
        self._digests.add(_digest(rid))
        self._encoded = None

    def update(self, other: SeenIds) -> None:
        """Add every id of *other*."""
        self._digests |= other._digests
        self._encoded = None

    def encode(self) -> str:
        """The set as one ASCII string (sorted digests, base64).

        Kept until the set changes: a reader checkpointing every page of a
        window encodes the window's unchanging sets once, not per page.
        """
        if self._encoded is None:
            joined = b"".join(sorted(self._digests))
            self._encoded = base64.b64encode(joined).decode("ascii")
        return self._encoded

    @classmethod
    def decode(cls, value: object) -> SeenIds:
        """Read :meth:`encode`'s string, or a plain list of ids.

        Raises:
            ValueError: *value* is neither.
        """
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return cls(value)
        if not isinstance(value, str):
            # A ValueError like every other bad value: the caller reports
            # a stored checkpoint it cannot read, whatever is wrong with it.
            raise ValueError("expected an encoded id set or a list of ids")  # noqa: TRY004
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"not an encoded id set: {exc}") from None
        if len(raw) % _DIGEST_SIZE:
            raise ValueError("not an encoded id set: wrong length")
        found = cls()
        found._digests = {
            raw[i : i + _DIGEST_SIZE] for i in range(0, len(raw), _DIGEST_SIZE)
        }
        return found


def _digest(rid: str) -> bytes:
    # ``surrogatepass``: an id from a hostile or broken server may hold a lone
    # surrogate (JSON's ``\ud800`` escape), which strict UTF-8 refuses. It
    # still gets a digest of its own, distinct from every valid id's, since
    # the bytes it encodes to are themselves invalid UTF-8.
    return hashlib.blake2b(
        rid.encode("utf-8", "surrogatepass"), digest_size=_DIGEST_SIZE
    ).digest()
