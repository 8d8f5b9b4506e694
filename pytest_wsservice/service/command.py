"""Placeholders in the service's command line and environment.

``--service-command`` (and its ini twin ``service_command``) and every ``--service-env``
value may name values that only exist once the plugin has chosen them:

=============== ==============================================================
``{host}``      the host the service should listen on (``service_host``)
``{port}``      the port the service should listen on (free, or ``--service-port``)
``{config}``    the patched static config's path (only with a static config)
``{tmpdir}``    the session's private temp directory for the service
``{tls_cert}``  the server certificate chain, PEM (only with ``--service-tls``)
``{tls_key}``   the server's private key, PEM (only with ``--service-tls``)
``{tls_ca}``    the throwaway CA's certificate, PEM (only with ``--service-tls``)
=============== ==============================================================

A placeholder may sit anywhere in a word (``--listen={host}:{port}``). ``{{`` and ``}}``
stand for a literal ``{`` and ``}``. Braces that do not enclose a name, such as ``{}`` or
``{"a": 1}``, are left as they are. A name in braces that is not one of the above, or one
whose value does not exist in this run (``{tls_cert}`` without TLS, ``{config}`` without a
static config), is a :class:`~pytest_wsservice.errors.ServiceConfigError` that says where the
text came from and lists the placeholders.

A command that uses any placeholder gets nothing appended; a command that uses none, run
with a static config, gets ``--config PATH`` appended (see :func:`uses_placeholders`).

``NAME=VALUE`` environment entries are parsed by :func:`parse_env_entries`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import ServiceConfigError

if TYPE_CHECKING:
    from .tls import TlsFiles

__all__ = [
    "PLACEHOLDERS",
    "CommandTemplate",
    "EnvEntry",
    "Placeholders",
    "expand",
    "expand_argv",
    "expand_env",
    "parse_env_entries",
    "parse_ping",
    "parse_yes_no",
    "placeholder_names",
    "uses_placeholders",
]

#: Every placeholder name, in the order the messages list them.
PLACEHOLDERS: tuple[str, ...] = ("host", "port", "config", "tmpdir", "tls_cert", "tls_key", "tls_ca")

_TLS_NAMES = frozenset({"tls_cert", "tls_key", "tls_ca"})

# "{{", "}}", or a name in braces; other braces are literal text.
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_QUOTE_LIMIT = 200


class _CommandSettings(Protocol):
    """What :meth:`CommandTemplate.of` reads of the plugin's settings."""

    @property
    def env(self) -> Sequence[EnvEntry]: ...

    @property
    def command(self) -> tuple[str, ...] | None: ...

    def command_origin(self) -> str: ...

    def require(self, *names: str) -> _CommandSettings: ...


_YES_NO = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


def parse_ping(value: str, origin: str) -> str:
    """``--service-ping``: an HTTP path starting with ``/``."""
    path = value.strip()
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise ServiceConfigError(
            f"{origin} is {value!r}; it should be an HTTP path starting with '/', such as /healthz."
        )
    return path


def parse_yes_no(value: str, origin: str) -> bool:
    """A yes/no option (``--service-tls``): true/false, yes/no, on/off, 1/0."""
    answer = _YES_NO.get(value.strip().lower())
    if answer is None:
        raise ServiceConfigError(f"{origin} is {value!r}; it should be true or false (or yes/no, on/off).")
    return answer


def _quoted(text: str) -> str:
    """``repr`` of user text, cut to a bounded length."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return repr(text[:_QUOTE_LIMIT]) + f" (cut; {len(text)} characters in all)"


def _known_list() -> str:
    return ", ".join("{" + name + "}" for name in PLACEHOLDERS)


@dataclass(frozen=True)
class Placeholders:
    """The values the placeholders stand for in one run.

    Attributes:
        host: The service's host, ``{host}``.
        port: The service's port, ``{port}``.
        tmpdir: The session's temp directory for the service, ``{tmpdir}``.
        config: The patched static config, ``{config}``; ``None`` for a configless service.
        tls: The TLS files, ``{tls_cert}``, ``{tls_key}`` and ``{tls_ca}``; ``None`` without TLS.
    """

    host: str
    port: int
    tmpdir: Path
    config: Path | None = None
    tls: TlsFiles | None = None

    def values(self) -> dict[str, str]:
        """The placeholders that have a value in this run, by name."""
        values = {"host": self.host, "port": str(self.port), "tmpdir": str(self.tmpdir)}
        if self.config is not None:
            values["config"] = str(self.config)
        if self.tls is not None:
            values["tls_cert"] = str(self.tls.cert_chain)
            values["tls_key"] = str(self.tls.private_key)
            values["tls_ca"] = str(self.tls.ca_cert)
        return values


def _placeholder_error(name: str, quote: str, origin: str) -> ServiceConfigError:
    field = "{" + name + "}"
    if name in _TLS_NAMES:
        why = (
            f"{field} is the path of a TLS file, and this run has no TLS: add --service-tls "
            f"(ini service_tls = true), or drop {field}."
        )
    elif name == "config":
        why = (
            "{config} is the patched static config's path, and this run has no static config "
            "(--service-command without --service-config): give --service-config PATH, or drop {config}."
        )
    elif name in PLACEHOLDERS:
        why = f"{field} has no value in this run."
    else:
        why = f"{field} is not a placeholder."
    return ServiceConfigError(
        f"In {origin} {_quoted(quote)}: {why} The placeholders are {_known_list()}; "
        "write {{ and }} for a literal brace."
    )


def expand(text: str, values: Mapping[str, str], *, origin: str, quote: str | None = None) -> str:
    """Replace the placeholders in ``text`` by ``values``.

    Args:
        text: One argument or one environment value.
        values: The placeholders that have a value, by name (:meth:`Placeholders.values`).
        origin: Where the text came from, for the error (``"--service-command"``,
            ``"ini service_env (/path/pytest.ini)"``).
        quote: The text the error quotes; default ``text``.

    Raises:
        ServiceConfigError: An unknown placeholder, or one without a value in this run.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        try:
            return values[name]
        except KeyError:
            raise _placeholder_error(name, text if quote is None else quote, origin) from None

    return _FIELD.sub(replace, text)


def expand_argv(argv: Sequence[str], values: Mapping[str, str], *, origin: str) -> list[str]:
    """:func:`expand` each word of an already split command line.

    ``origin`` names the option the command came from; an error quotes the whole command.
    """
    quote = " ".join(argv)
    return [expand(word, values, origin=origin, quote=quote) for word in argv]


def placeholder_names(argv: Iterable[str]) -> set[str]:
    """The names of the placeholders the words use (``{{``/``}}`` do not count)."""
    return {match.group(1) for word in argv for match in _FIELD.finditer(word) if match.group(1) is not None}


def uses_placeholders(argv: Iterable[str]) -> bool:
    """Whether any word names a placeholder (known or not; ``{{``/``}}`` do not count).

    A command that does is complete as given: the plugin appends no ``--config PATH``.
    """
    return any(match.group(1) is not None for word in argv for match in _FIELD.finditer(word))


@dataclass(frozen=True)
class EnvEntry:
    """One ``NAME=VALUE`` environment entry and where it came from.

    Attributes:
        name: The variable's name.
        value: The value, placeholders not yet replaced.
        origin: Where the entry came from, for errors (``"--service-env"``).
    """

    name: str
    value: str
    origin: str


def parse_env_entries(lines: Iterable[str], *, origin: str) -> list[EnvEntry]:
    """Parse ``NAME=VALUE`` entries, one per line or per option.

    Blank lines and lines starting with ``#`` are skipped; whitespace around the line is
    dropped, the value is otherwise kept as written (it may contain ``=``). Later entries
    for the same name win when the entries are applied.

    Raises:
        ServiceConfigError: A line without ``=``, or a name that is not a variable name
            (letters, digits and ``_``, not starting with a digit).
    """
    entries = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ServiceConfigError(
                f"{origin} has {_quoted(line)}, which is not NAME=VALUE: write the variable's name, '=' and its value, "
                "for example PORT={port}."
            )
        if not _ENV_NAME.fullmatch(name):
            raise ServiceConfigError(
                f"{origin} has {_quoted(line)}, whose name {_quoted(name)} is not an environment variable name: use "
                "letters, digits and '_', not starting with a digit, with no spaces before the '='."
            )
        entries.append(EnvEntry(name=name, value=value, origin=origin))
    return entries


def expand_env(entries: Iterable[EnvEntry], values: Mapping[str, str]) -> dict[str, str]:
    """The environment entries as a dict, with their placeholders replaced.

    Raises:
        ServiceConfigError: A bad placeholder; the message names the entry and its origin.
    """
    env: dict[str, str] = {}
    for entry in entries:
        env[entry.name] = expand(entry.value, values, origin=entry.origin, quote=f"{entry.name}={entry.value}")
    return env


@dataclass(frozen=True)
class CommandTemplate:
    """The service's command and ``--service-env`` entries, rendered anew for each start.

    A start on another port (the plugin's port was taken, a config hook moved it) renders
    the template again, so ``{port}`` always names the port the service is asked to use.

    Attributes:
        argv: The command, placeholders not yet replaced.
        env: The environment entries, placeholders not yet replaced.
        origin: Where the command came from, for errors (``"--service-command"``).
        tmpdir: ``{tmpdir}``.
        tls: The TLS files for ``{tls_*}``, or ``None``.
        append_config: Append ``--config PATH`` when there is a config (a static config
            and no placeholder in the command).
    """

    argv: tuple[str, ...]
    env: tuple[EnvEntry, ...] = ()
    origin: str = "--service-command"
    tmpdir: Path = Path()
    tls: TlsFiles | None = None
    append_config: bool = False

    @classmethod
    def of(cls, argv: Sequence[str], settings: _CommandSettings, tmpdir: Path, tls: TlsFiles | None) -> CommandTemplate:
        """The template of ``argv`` with the settings' env entries; ``--config PATH`` is
        appended (when there is a config) only if ``argv`` uses no placeholder."""
        return cls(
            argv=tuple(argv),
            env=tuple(settings.env),
            origin=settings.command_origin(),
            tmpdir=tmpdir,
            tls=tls,
            append_config=not uses_placeholders(argv),
        )

    @classmethod
    def for_settings(cls, settings: _CommandSettings, tmpdir: Path, tls: TlsFiles | None) -> CommandTemplate:
        """``--service-command`` (else the bundled sample service run by this Python) and
        ``--service-env`` from the plugin's settings."""
        from .bundled import sample_argv

        argv = settings.require("service-command", "service-env").command
        return cls.of(argv or sample_argv(), settings, tmpdir, tls)

    def placeholders(self, host: str, port: int, config_path: Path | None) -> Placeholders:
        """The placeholders' values for one start."""
        return Placeholders(host=host, port=port, tmpdir=self.tmpdir, config=config_path, tls=self.tls)

    def render(self, host: str, port: int, config_path: Path | None) -> tuple[list[str], dict[str, str]]:
        """The argv and the extra environment for a service on ``host:port`` with ``config_path``.

        Raises:
            ServiceConfigError: A bad placeholder (see :func:`expand`).
        """
        values = self.placeholders(host, port, config_path).values()
        argv = expand_argv(self.argv, values, origin=self.origin)
        if self.append_config and config_path is not None:
            argv += ["--config", str(config_path)]
        return argv, expand_env(self.env, values)
