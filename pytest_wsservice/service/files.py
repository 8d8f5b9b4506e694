"""Files the plugin creates for the service: the log file, made private and checked first.

The service's log may hold what the service was given (tokens, passwords from ``$vars``),
so a log file the plugin creates is readable by its owner only (0600), like the patched
config (:func:`~.yamlio.write_private`). A log file that already exists keeps its mode:
it is the user's.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ..errors import ServiceConfigError

__all__ = ["prepare_log_file"]


def _kind(mode: int) -> str | None:
    """What a file that cannot be the log is, or ``None`` for a file that can."""
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return None


def _seekable(path: Path) -> bool:
    """Whether a device can be appended to and read back from an offset (``/dev/null`` can, a terminal cannot)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return True  # not ours to judge: opening it for the service reports why it cannot be opened
    try:
        os.lseek(descriptor, 0, os.SEEK_END)
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return True


def prepare_log_file(path: Path, *, origin: str = "") -> Path:
    """Check that ``path`` can be the service's log; create it (and its directories) 0600 if missing.

    The plugin appends the service's output to the log and reads it back from an offset,
    to quote it in reports; a pipe, a socket or a terminal (``--service-logs-file=/dev/stderr``
    under ``-s``) cannot be read back, so it is refused.

    Args:
        path: The log file.
        origin: Where the path came from (``"--service-logs-file"``), for the error.

    Returns:
        ``path``.

    Raises:
        ServiceConfigError: The path cannot be the log, or cannot be created.
    """
    named = f"{origin} is {path}" if origin else f"the log file {path}"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise ServiceConfigError(f"{named}, which cannot be used: {error.strerror}; give a file path.") from None
    if mode is not None:
        kind = _kind(mode) or (None if not stat.S_ISCHR(mode) or _seekable(path) else "a terminal or stream")
        if kind is not None:
            raise ServiceConfigError(
                f"{named}, which is {kind}, not a file: the plugin appends the service's output to its log and "
                "reads it back to quote it in failed tests' reports, which it cannot do there. Give the path of "
                "a file (or leave the option out: service.log in the session's temp dir); to watch the log live, "
                "run pytest with -s, and the plugin copies it to stderr."
            )
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another worker made it meanwhile: theirs is as good
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600))
    except OSError as error:
        raise ServiceConfigError(
            f"{named}, which cannot be created: {error.strerror}. Give a path in a writable directory."
        ) from None
    return path
