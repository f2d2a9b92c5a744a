"""Writing a report or an export to a file only its owner can read.

What aiaudit writes holds every user's email, IP address and activity, so a
file readable by every local account (the 0644 a umask of 022 gives) leaks
all of it. :func:`private_file` writes to a new temporary file in the same
folder, created owner-only (0600) and exclusively (``O_EXCL``: it can be no
file or link planted in advance), then renames it over the path. The rename
replaces whatever is at the path, a symbolic link included, without
following it: a link planted at the path cannot redirect the write to
another file. Readers of the path never see a half-written file, and a
failed write leaves the previous file as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO


if TYPE_CHECKING:
    from collections.abc import Iterator


__all__ = ["PRIVATE_MODE", "private_file", "write_private_text"]

PRIVATE_MODE = 0o600
"""The permissions of every file written here: read and write by the owner."""


def _about(exc: OSError, path: Path) -> OSError:
    """*exc* about *path*, not the temporary name the user never gave."""
    return type(exc)(exc.errno, exc.strerror, str(path))


@contextlib.contextmanager
def private_file(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A text file to write, which becomes *path* (mode 0600) once the
    ``with`` block ends without an error.

    Raises:
        OSError: The folder does not exist or cannot be written, or *path*
            is a folder; the message names *path*.
    """
    target = Path(path)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise _about(exc, target) from None
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes 0600 whatever the umask; said again in case a
        # platform's default differs.
        temporary.chmod(PRIVATE_MODE)
        try:
            temporary.replace(target)
        except OSError as exc:
            raise _about(exc, target) from None
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise


def write_private_text(path: str | os.PathLike[str], text: str) -> None:
    """Write *text* to *path* as :func:`private_file` does."""
    with private_file(path) as out:
        out.write(text)
