"""Why a command could not be started, in one sentence: the words of :meth:`ServiceProcess.spawn`'s errors.

``execve`` answers "No such file or directory" both when the program is missing and when
the program is a script whose ``#!`` line names a missing interpreter, such as
``/bin/sh\\r`` from a file saved with Windows line ends. The second case is told apart
here by reading the script's first line.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
from collections.abc import Sequence

__all__ = ["describe_spawn_error"]

#: How much of a script's first line is read to find its interpreter.
_FIRST_LINE_LIMIT = 256


def describe_spawn_error(error: OSError, command: Sequence[str], cwd: str | os.PathLike[str] | None) -> str:
    """One sentence saying why ``command`` could not be started (``error`` from ``Popen``)."""
    shown = f"(command: {shlex.join(command)})"
    if isinstance(error, FileNotFoundError):
        missing = os.fspath(error.filename) if error.filename is not None else command[0]
        if cwd is not None and missing == os.fspath(cwd):
            return f"cannot start the service: working directory {missing!r} was not found {shown}."
        script = _resolve(command[0], cwd)
        interpreter = _interpreter(script) if script is not None else None
        if script is not None and interpreter is not None:
            return (
                f"cannot start the service: {script} exists, but the interpreter named on its line 1, "
                f"{interpreter!r}, was not found{_crlf_hint(interpreter)} {shown}."
            )
        return f"cannot start the service: executable {missing!r} was not found {shown}."
    if isinstance(error, PermissionError):
        return f"cannot start the service: {command[0]!r} is not executable {shown}."
    if error.errno == errno.ENOEXEC:
        return (
            f"cannot start the service: {command[0]!r} is neither a program nor a script that starts with a "
            f"'#!' line naming its interpreter {shown}."
        )
    return f"cannot start the service: {error.strerror} {shown}."


def _resolve(program: str, cwd: str | os.PathLike[str] | None) -> str | None:
    """The file ``execve`` ran for ``program``: a path as given (relative to ``cwd``), else found on ``PATH``."""
    if os.sep in program:
        path = os.path.join(os.fspath(cwd), program) if cwd is not None else program
        return path if os.path.isfile(path) else None
    return shutil.which(program)


def _interpreter(script: str) -> str | None:
    """The interpreter named by a script's ``#!`` line (its first word, ``\\r`` kept), or ``None``."""
    try:
        with open(script, "rb") as file:
            first = file.readline(_FIRST_LINE_LIMIT)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].rstrip(b"\n").lstrip(b" \t").split(b" ", 1)
    name = words[0].split(b"\t", 1)[0].decode("utf-8", "replace")
    if not name or os.path.exists(name):
        return None  # the interpreter is there: something else was missing
    return name


def _crlf_hint(interpreter: str) -> str:
    if interpreter.endswith("\r"):
        return " (the line ends with '\\r': the script has Windows line ends; convert it with dos2unix)"
    return ""
