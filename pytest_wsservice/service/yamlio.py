"""YAML files for the engine: read them bounded, write them private, keep YAML's own types.

- :func:`load_yaml` reads a YAML file with PyYAML's safe loader, and refuses a document
  whose aliases (``*name``) would expand it far beyond what is written (a "billion
  laughs" bomb: a 1 KB file that stands for billions of values) or that refers to itself.
- :func:`yaml_ready` checks that a value can be written back as YAML. The values YAML's
  safe loader makes (str, int, float, bool, None, list, dict, ``datetime.date``,
  ``datetime.datetime``, ``bytes`` from ``!!binary``, ``set`` from ``!!set``) are kept as
  they are, so a date in the static config is still a date in the patched copy;
  ``os.PathLike`` values become strings and tuples lists.
- :func:`dump_yaml` and :func:`write_private` write the patched copy: UTF-8, long strings
  on one line, readable by its owner only, written aside and renamed over.

Every error is a :class:`~pytest_wsservice.errors.ServiceConfigError` with one paragraph
naming the file (and key) and what to do. PyYAML is imported on first use.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ServiceConfigError

__all__ = ["MAX_ALIAS_EXPANSION", "dump_yaml", "load_yaml", "write_private", "yaml_ready"]

#: How many values a document's aliases may add beyond those written out. A static config
#: that repeats a block with ``<<: *defaults`` adds a few hundred at most.
MAX_ALIAS_EXPANSION = 100_000

#: The types PyYAML's safe dumper writes with their own YAML tags.
_SCALARS = (str, int, float, bool, bytes, datetime.date, datetime.datetime)


class _Refused(Exception):
    """Raised inside the loader; turned into a ServiceConfigError that names the file."""


@functools.cache
def _loader() -> type[Any]:
    import yaml

    base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class BoundedLoader(base):  # type: ignore[misc]
        def construct_document(self, node: Any) -> Any:
            _check_expansion(node)  # before any value is built: counting nodes is linear
            return super().construct_document(node)

    return BoundedLoader


def _check_expansion(root: Any) -> None:
    """Refuse a node graph that refers to itself or whose aliases add more than the bound."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known  # an alias: its size counts again, but it is walked once
        if key in active:
            mark = node.start_mark
            raise _Refused(
                f"has an alias that refers to the value holding it (the anchor at line {mark.line + 1}, column "
                f"{mark.column + 1}), a value that never ends; write the value out instead"
            )
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key_node) + size(value_node) for key_node, value_node in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    try:
        expanded = size(root)
    except RecursionError:
        raise _Refused("is nested too deeply to be a static config") from None
    if expanded - len(sizes) > MAX_ALIAS_EXPANSION:
        raise _Refused(
            f"has YAML aliases (*name) that expand it by more than {MAX_ALIAS_EXPANSION} values beyond what is "
            "written: an alias bomb, or repeated blocks that should be written out; the plugin refuses to load it"
        )


def load_yaml(path: Path, label: str) -> Any:
    """The YAML document in ``path``, its values of YAML's own types.

    Args:
        path: The file.
        label: Names the file in errors, for example ``"static config /x.yaml (from --service-config)"``.

    Raises:
        ServiceConfigError: The file is missing, unreadable, not UTF-8, not YAML, an alias
            bomb, or refers to itself.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.load(stream, Loader=_loader())
    except FileNotFoundError:
        raise ServiceConfigError(f"{label} does not exist; check the path.") from None
    except IsADirectoryError:
        raise ServiceConfigError(f"{label} is a directory, not a YAML file.") from None
    except UnicodeDecodeError as error:
        raise ServiceConfigError(f"{label} is not UTF-8 text ({error.reason} at byte {error.start}).") from None
    except OSError as error:
        raise ServiceConfigError(f"{label} cannot be read: {error.strerror}.") from None
    except _Refused as error:
        raise ServiceConfigError(f"{label} {error}.") from None
    except RecursionError:
        raise ServiceConfigError(f"{label} is nested too deeply to be a static config.") from None
    except yaml.YAMLError as error:
        raise ServiceConfigError(f"{label} is not valid YAML: {describe_yaml_error(error)}; fix the file.") from None


def describe_yaml_error(error: Exception) -> str:
    """PyYAML's error on one line: the problem, where, and the context."""
    # PyYAML's own str() spans several lines and repeats the file name; keep one line.
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    context = getattr(error, "context", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}" + (f" ({context})" if context else "")


def _join(key_path: str, key: Any) -> str:
    return f"{key_path}.{key}" if key_path else str(key)


def yaml_ready(value: Any, key_path: str = "") -> Any:
    """``value`` as it will be written: YAML's own types kept, paths as strings, tuples as lists.

    Raises:
        ServiceConfigError: A value (a hook's) has no YAML form; the message names its key path.
    """
    if isinstance(value, dict):
        return {k: yaml_ready(v, _join(key_path, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [yaml_ready(item, f"{key_path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, (set, frozenset)) and all(item is None or isinstance(item, _SCALARS) for item in value):
        return set(value)  # written as !!set
    raise ServiceConfigError(
        f"the patched config has a {type(value).__name__} at {key_path or 'the top level'}, which YAML cannot "
        "store; config hooks should set YAML values (str, int, float, bool, None, list, dict, date, datetime, "
        "bytes, set of scalars)."
    )


def _not_utf8(value: Any, key_path: str) -> tuple[str, str] | None:
    """The first key path whose key or text holds a lone surrogate (a non-UTF-8 OS name), and that text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return key_path, value
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _not_utf8(key, key_path) or _not_utf8(item, _join(key_path, key))
            if found:
                return found
    if isinstance(value, (list, set)):
        for index, item in enumerate(value):
            found = _not_utf8(item, f"{key_path}[{index}]")
            if found:
                return found
    return None


def dump_yaml(data: Any, path: Path) -> bytes:
    """``data`` (from :func:`yaml_ready`) as UTF-8 YAML, long strings on one line.

    Args:
        path: The file it will be written to, for the error.

    Raises:
        ServiceConfigError: A string is not valid UTF-8, which happens when a path under a
            directory whose name is not UTF-8 was put into the config.
    """
    import yaml

    # No line folding (width): long strings stay on one line, so small YAML readers cope.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    try:
        return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=2**30).encode("utf-8")
    except UnicodeEncodeError:
        found = _not_utf8(data, "")
        where, text = found if found is not None else ("a value", "")
        # A path is shown (its bad bytes as \xNN); other text is not: it may be a secret.
        readable = os.fsencode(text).decode("utf-8", "backslashreplace") if text.startswith("/") else ""
        shown = f" ({readable[:300]})" if readable else ""
        raise ServiceConfigError(
            f"cannot write the patched config {path}: {where or 'a key'} holds a name that is not valid UTF-8"
            f"{shown}, and a static config is UTF-8 text. This happens when the config (or a file it names) lies "
            "under a directory whose name is not UTF-8: rename that directory, or move the files to a path "
            "that is UTF-8."
        ) from None


def write_private(path: Path, data: bytes, what: str = "the patched config") -> None:
    """Write ``data`` to ``path``, readable by its owner only (0600).

    The bytes go to a ``.NAME.PID.tmp`` file beside it that is renamed over ``path``, so a
    reader sees the old or the new file whole; a failed write removes it.

    Raises:
        ServiceConfigError: The directory is missing, read-only, or out of space; the message
            names the path and what to do.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)  # a leftover of a killed run keeps its mode: start afresh
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        reason = error.strerror or str(error)
        code = errno.errorcode.get(error.errno or 0, "")
        raise ServiceConfigError(
            f"cannot write {what} {path}: {reason}{f' ({code})' if code else ''}. It goes into the session's temp "
            f"dir {path.parent} (the service_tmpdir fixture, under pytest's --basetemp): free some space there or "
            "make it writable, or run pytest with --basetemp=DIR on a disk that has room."
        ) from None
