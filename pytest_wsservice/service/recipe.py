"""Settings and the default recipe: THE pipeline from options to a startable service.

Three things live here, and nothing else builds them:

- :class:`Settings`: every ``--service-*`` option and ini value, parsed once into typed,
  frozen values (:func:`parse_settings`). A value that does not parse is kept as an
  error and raised by :meth:`Settings.require` where the value is first needed, so that a
  bad option fails the tests that use it, with one clear sentence, not pytest's start-up.
- :class:`ServiceRecipe`: how to start the service, apart from the config it runs with.
- :func:`build_recipe`: the default pipeline, one function per step, in this order:
  ``session_tls`` (``--service-tls``), ``static_config_path``, ``load_config_yaml``,
  ``load_vars``, ``default_hooks``, ``build_config`` (hooks, then ``$vars``),
  ``write_service_config``, ``CommandTemplate.for_settings``, ``logs_file``, ``make_recipe``
  (docs/architecture.md draws it).
  A configless service skips the config steps (its "config" is only the listener). Each
  default fixture is one step, so a user can override any; the early start calls
  :func:`build_recipe`: both build the same recipe from the same settings.

No pytest here; PyYAML, yarl, socket and :mod:`.command` are imported only by the steps
that need them (a run that uses no fixture parses its options with this module alone).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ServiceConfigError

if TYPE_CHECKING:
    from yarl import URL

    from .command import CommandTemplate, EnvEntry
    from .config import ConfigHook
    from .tls import TlsFiles

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "DEFAULT_WEBSOCKET_TIMEOUT",
    "RawSetting",
    "ServiceRecipe",
    "Settings",
    "build_config",
    "build_recipe",
    "default_hooks",
    "load_config_yaml",
    "load_vars",
    "logs_file",
    "make_recipe",
    "parse_settings",
    "static_config_path",
]

#: The listener's address unless ``service_host`` is overridden.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 5.0
DEFAULT_WEBSOCKET_TIMEOUT = 10.0
#: The longest timeout an option may give, in seconds: every wait ends (``inf`` would hang).
MAX_TIMEOUT = 3600.0

_IDLE_WHAT = "a number of seconds from 0.1 to 604800 (a week)"
_TIMEOUT_WHAT = f"a positive number of seconds, at most {MAX_TIMEOUT:g}"
_YES_NO = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}
#: Options that start nothing (or decide nothing about the service): setting one does
#: not count as configuring the plugin, for the early start.
_NOT_CONFIGURING = frozenset({"websocket-timeout", "service-url"})


class RawSetting(NamedTuple):
    """One option as given: its text, the directory relative paths are relative to, and
    where it came from for messages (``"--service-port"``, ``"service_port in /x/pytest.ini"``)."""

    value: str
    base_dir: Path
    origin: str

    def path(self) -> Path:
        return (self.base_dir / Path(self.value).expanduser()).absolute()


@dataclass(frozen=True)
class Settings:
    """Every option of the plugin, parsed once (see the module docstring).

    Attributes:
        config_path: ``--service-config``, or ``None`` for the bundled sample's config.
        config_vars_path: ``--service-config-vars``, or ``None`` for the config's ``config_vars:``.
        command: ``--service-command``/``--service-binary`` as argv (a relative program made absolute;
            placeholders kept), or ``None``.
        env, ping_path, tls: ``--service-env`` (placeholders kept), ``--service-ping``, ``--service-tls``.
        port: ``--service-port`` plus the xdist worker's offset, or ``None`` for a free port.
        start_timeout: ``--service-start-timeout`` in seconds.
        stop_timeout: Seconds between SIGTERM and SIGKILL.
        log_level: ``--service-log-level``, lower case, or ``None`` to keep the config's.
        logs_file: ``--service-logs-file`` as given (see :func:`logs_file` for xdist workers), or ``None``.
        websocket_timeout: ``--websocket-timeout`` in seconds.
        service_url: ``--service-url`` as given, or ``None`` (:func:`~.handle.parse_service_url`
            turns it into the base URL).
        early_start, reuse, reuse_idle: ``--service-early-start``; ``--service-reuse`` and its idle seconds.
        runner_mode: ``--service-runner-mode`` (a flag with no ini twin).
        worker_id: The xdist worker (``"gw0"``), or ``None``.
        configured: Whether an option that configures the service is set (for the early start).
        control_secret: A random secret made once per pytest process: the plugin turns the
            config's tests-control on with it (:class:`~.hooks.PatchTestsControl`) and its
            clients send it. Empty: tests-control is left as the config has it.
        origins: Option name -> where it was set, for messages.
        errors: Option name -> the error for a value that does not parse.
    """

    config_path: Path | None = None
    config_vars_path: Path | None = None
    command: tuple[str, ...] | None = None
    env: tuple[EnvEntry, ...] = ()
    ping_path: str | None = None
    tls: bool = False
    port: int | None = None
    start_timeout: float = DEFAULT_START_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    log_level: str | None = None
    logs_file: Path | None = None
    websocket_timeout: float = DEFAULT_WEBSOCKET_TIMEOUT
    service_url: str | None = None
    early_start: bool = True
    reuse: str = "no"
    reuse_idle: float = 600.0
    runner_mode: bool = False
    worker_id: str | None = None
    configured: bool = False
    control_secret: str = field(default="", repr=False)
    origins: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    def require(self, *names: str) -> Settings:
        """Raise :class:`ServiceConfigError` for the first of these options whose value is
        invalid; return ``self``, so ``settings.require("service-port").port`` reads well."""
        for name in names:
            message = self.errors.get(name)
            if message is not None:
                raise ServiceConfigError(message)
        return self

    def origin(self, name: str) -> str | None:
        """Where option ``name`` was set (``"--service-port"``), or ``None`` if it is not set."""
        return self.origins.get(name)

    @property
    def configless(self) -> bool:
        """No static config: a command without ``{config}``, and no ``--service-config``."""
        from .command import placeholder_names

        return self.command is not None and self.config_path is None and "config" not in placeholder_names(self.command)

    def command_origin(self) -> str:
        """Where the command came from, for messages."""
        return self.origin("service-command") or self.origin("service-binary") or "--service-command"


def _number(raw: RawSetting, kind: Callable[[str], float], what: str, minimum: float, maximum: float) -> float:
    try:
        number = kind(raw.value)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:  # also rejects NaN
        raise ServiceConfigError(f"{raw.origin} is {raw.value!r}; it should be {what}.")
    return number


def _parse_command(raw: RawSetting) -> tuple[str, ...]:
    try:
        argv = shlex.split(raw.value)
    except ValueError as error:
        raise ServiceConfigError(f"{raw.origin} cannot be split into arguments ({error}): {raw.value!r}.") from None
    if not argv:
        raise ServiceConfigError(f"{raw.origin} is empty; it should be the command that starts the service.")
    # A relative program path ("./build/service") is relative to where the option was given.
    if "/" in argv[0] and not Path(argv[0]).is_absolute():
        argv[0] = str(raw.base_dir / argv[0])
    return tuple(argv)


def _parse_log_level(raw: RawSetting) -> str:
    from .config import LOG_LEVELS

    level = raw.value.strip().lower()
    if level not in LOG_LEVELS:
        raise ServiceConfigError(f"{raw.origin} is {raw.value!r}; it should be one of {', '.join(LOG_LEVELS)}.")
    return level


def _parse_port(raw: RawSetting, worker_id: str | None) -> int:
    from .ports import worker_port  # not at module level: socket is not needed to parse options

    port = int(_number(raw, int, "a port number from 1 to 65535", 1, 65535))
    try:
        return worker_port(port, worker_id)
    except ValueError as error:
        raise ServiceConfigError(f"{raw.origin} is {raw.value!r}: {error}.") from None


def _reuse_mode(value: str, origin: str) -> str:
    from .reuse import parse_reuse_mode

    return parse_reuse_mode(value, origin)


def parse_early_start(raw: RawSetting | None) -> bool:
    """``--service-early-start``: yes (the default) or no; ``ValueError`` with the message otherwise."""
    if raw is None:
        return True
    value = _YES_NO.get(raw.value.strip().lower())
    if value is None:
        raise ValueError(f"{raw.origin} is {raw.value!r}; it should be yes or no (or true/false, on/off).")
    return value


def parse_settings(
    raw: Mapping[str, RawSetting],
    worker_id: str | None = None,
    *,
    runner_mode: bool = False,
    control_secret: str = "",
) -> Settings:
    """Parse the options that are set (name without dashes -> :class:`RawSetting`) into :class:`Settings`.

    Raises:
        ValueError: ``service-early-start`` is not yes or no (a usage error: it decides
            what happens before any test runs). Every other invalid value is kept in
            :attr:`Settings.errors`.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if raw.keys() & {"service-env", "service-ping", "service-tls"}:  # only then: the lambdas below use them
        from .command import parse_env_entries, parse_ping, parse_yes_no
    parsers: dict[str, tuple[str, Callable[[RawSetting], Any]]] = {
        "service-config": ("config_path", RawSetting.path),
        "service-config-vars": ("config_vars_path", RawSetting.path),
        "service-command": ("command", _parse_command),
        "service-binary": ("command", _parse_command),
        "service-env": ("env", lambda r: tuple(parse_env_entries(r.value.splitlines(), origin=r.origin))),
        "service-ping": ("ping_path", lambda r: parse_ping(r.value, r.origin)),
        "service-tls": ("tls", lambda r: parse_yes_no(r.value, r.origin)),
        "service-port": ("port", lambda r: _parse_port(r, worker_id)),
        "service-start-timeout": ("start_timeout", lambda r: _number(r, float, _TIMEOUT_WHAT, 0.001, MAX_TIMEOUT)),
        "service-log-level": ("log_level", _parse_log_level),
        "service-logs-file": ("logs_file", RawSetting.path),
        "websocket-timeout": ("websocket_timeout", lambda r: _number(r, float, _TIMEOUT_WHAT, 0.001, MAX_TIMEOUT)),
        "service-url": ("service_url", lambda r: r.value),
        "service-reuse": ("reuse", lambda r: _reuse_mode(r.value, r.origin)),
        "service-reuse-idle": ("reuse_idle", lambda r: _number(r, float, _IDLE_WHAT, 0.1, 604800)),
    }
    if "service-command" in raw and "service-binary" in raw:
        errors["service-command"] = f"{raw['service-binary'].origin} is another name for --service-command: give one."
    for name, setting in raw.items():
        if name not in parsers or name in errors:
            continue
        attribute, parse = parsers[name]
        try:
            values[attribute] = parse(setting)
        except ServiceConfigError as error:
            errors["service-command" if name == "service-binary" else name] = str(error)
    return Settings(
        **values,
        early_start=parse_early_start(raw.get("service-early-start")),
        runner_mode=runner_mode,
        worker_id=worker_id,
        configured=any(name not in _NOT_CONFIGURING for name in raw),
        control_secret=control_secret,
        origins={name: setting.origin for name, setting in raw.items()},
        errors=errors,
    )


@dataclass(frozen=True)
class ServiceRecipe:
    """How to start the service, apart from the config it runs with.

    Attributes:
        command: The argv that starts it with ``default_config_path``.
        default_config: The session's default patched config (``service_config``).
        default_config_path: Where ``default_config`` is written.
        default_base_url: How the default service is reached (``service_baseurl``).
        directory: Where configs other than the default are written.
        log_path: The log file every service of the session appends to.
        env: Extra environment variables.
        start_timeout: Seconds to wait for readiness, port retries included.
        stop_timeout: Seconds between SIGTERM and SIGKILL.
        own_port: The port the plugin chose itself and may change, or ``None``.
        port_origin: Says where a fixed port comes from, for messages
            (``"--service-port"``).
        template: Renders the command and env anew for each start; ``None`` if ``service_command`` is overridden.
        configless, ping_path, tls: No static config (only the listener); ``--service-ping``; the TLS files.
    """

    command: Sequence[str]
    default_config: Mapping[str, Any]
    default_config_path: Path | None
    default_base_url: URL
    directory: Path
    log_path: Path
    env: Mapping[str, str] | None = None
    start_timeout: float = DEFAULT_START_TIMEOUT
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    own_port: int | None = None
    port_origin: str = "the patched config"
    template: CommandTemplate | None = None
    configless: bool = False
    ping_path: str | None = None
    tls: TlsFiles | None = None


# --------------------------------------------------------------------------- the steps


def static_config_path(settings: Settings) -> Path:
    """The static config's path: ``--service-config``, else the bundled sample service's."""
    from .bundled import bundled_static_config

    return settings.config_path if settings.config_path is not None else bundled_static_config()


def load_config_yaml(settings: Settings, path: Path) -> dict[str, Any]:
    """The static config at ``path`` as written (parsed YAML)."""
    from .config import load_static_config

    origin = settings.origin("service-config")
    return load_static_config(path, origin=f"from {origin}" if origin else "")


def load_vars(settings: Settings, path: Path, static: Mapping[str, Any]) -> dict[str, Any]:
    """The config vars: ``--service-config-vars``, else the file the config's ``config_vars:`` names."""
    from .config import config_vars_path, load_config_vars

    if settings.config_vars_path is not None:
        return load_config_vars(settings.config_vars_path, origin=f"from {settings.origin('service-config-vars')}")
    vars_path = config_vars_path(static, path)
    if vars_path is None:
        return {}
    return load_config_vars(vars_path, origin=f"named by config_vars in {path}")


def default_hooks(
    path: Path,
    host: str,
    port: int,
    log_level: str | None,
    control_secret: str = "",
    tls: TlsFiles | None = None,
) -> list[ConfigHook]:
    """The plugin's own config hooks: absolute ``*-path`` values, the listener (and its TLS
    files), the default logger, and (with a ``control_secret``) tests-control turned on."""
    from .config import MakePathsAbsolute, PatchDefaultLogger, PatchListener
    from .configless import PatchListenerTls
    from .hooks import PatchTestsControl

    hooks: list[ConfigHook] = [MakePathsAbsolute(path.parent), PatchListener(host=host, port=port)]
    if tls is not None:
        hooks.append(PatchListenerTls(str(tls.cert_chain), str(tls.private_key)))
    hooks.append(PatchDefaultLogger(file_path="@stderr", level=log_level))
    if control_secret:
        hooks.append(PatchTestsControl(control_secret))
    return hooks


def config_source(path: Path) -> str:
    """How the patched config is named in messages."""
    return f"static config {path}"


def build_config(
    static: Mapping[str, Any], config_vars: Mapping[str, Any], hooks: Sequence[tuple[str, ConfigHook]], path: Path
) -> dict[str, Any]:
    """The patched config: described ``hooks`` applied in order to deep copies, then ``$vars``."""
    from .config import build_service_config

    return build_service_config(static, config_vars, hooks, source=config_source(path))


def logs_file(settings: Settings, tmpdir: Path) -> Path:
    """The log file: ``--service-logs-file`` (xdist worker ``gwK`` writes ``PATH`` with ``.gwK``
    before the suffix), else ``service.log`` in the session's ``tmpdir``. A file that does not
    exist yet is created readable by its owner only (:func:`~.files.prepare_log_file`)."""
    from .files import prepare_log_file

    path, worker = settings.logs_file, settings.worker_id
    if path is None:
        return prepare_log_file(tmpdir / "service.log")
    path = path.with_name(f"{path.stem}.{worker}{path.suffix}") if worker else path
    return prepare_log_file(path, origin=settings.origin("service-logs-file") or "")


def make_recipe(
    settings: Settings,
    *,
    command: Sequence[str],
    config: Mapping[str, Any],
    config_path: Path | None,
    base_url: URL,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT,
    stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    own_port: int | None = None,
    template: CommandTemplate | None = None,
    tls: TlsFiles | None = None,
) -> ServiceRecipe:
    """The :class:`ServiceRecipe` from the last steps' results.

    Args:
        own_port: The port the plugin picked itself; kept only if the config listens on it
            (a hook may have fixed another one), so that the session may change it.
        template: What ``command`` was rendered from; dropped if it does not render ``command``.
    """
    from .config import listener_address
    from .coverage_env import coverage_env

    host, port = listener_address(config)
    if template is not None and template.render(host, port, config_path)[0] != list(command):
        template = None
    return ServiceRecipe(
        command=tuple(command),
        default_config=config,
        default_config_path=config_path,
        default_base_url=base_url,
        directory=config_path.parent if config_path is not None else log_path.parent,
        log_path=log_path,
        env={**coverage_env(), **(env or {})} or None,
        start_timeout=start_timeout,
        stop_timeout=stop_timeout,
        own_port=own_port if own_port == port else None,
        port_origin=settings.origin("service-port") or "the service_port fixture or a config hook",
        template=template,
        configless=config_path is None,
        ping_path=settings.require("service-ping").ping_path,
        tls=tls,
    )


def build_recipe(
    settings: Settings,
    *,
    tmpdir: Path,
    extra_hooks: Sequence[tuple[str, ConfigHook]] = (),
    host: str = DEFAULT_HOST,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
) -> ServiceRecipe:
    """The default recipe: every step of the module docstring, in order.

    Args:
        tmpdir: The session's private directory (patched config, default log file).
        extra_hooks: Described hooks applied after the plugin's own (``WSSERVICE_CONFIG_HOOKS``).
        host: The listener's address.
        port: The port to use if ``--service-port`` is not set; a free one if ``None``.
        env: Extra environment variables for the service.

    Raises:
        ServiceConfigError: An option, the config, its vars or a hook is wrong.
    """
    from .command import CommandTemplate
    from .config import describe_hook, listener_address, write_service_config
    from .configless import listener_config, session_tls
    from .handle import build_base_url
    from .ports import free_port

    tls = session_tls(settings.require("service-tls").tls, tmpdir)
    fixed = settings.require("service-port", "service-log-level").port
    chosen = fixed if fixed is not None else port if port is not None else free_port(host)
    patched: Path | None = None
    if settings.configless:
        config = listener_config(host, chosen)
    else:
        path = static_config_path(settings)
        static = load_config_yaml(settings, path)
        config_vars = load_vars(settings, path, static)
        own_hooks = default_hooks(path, host, chosen, settings.log_level, settings.control_secret, tls)
        hooks = [(describe_hook(hook), hook) for hook in own_hooks]
        config = build_config(static, config_vars, [*hooks, *extra_hooks], path)
        patched = write_service_config(config, tmpdir)
    template = CommandTemplate.for_settings(settings, tmpdir, tls)
    return make_recipe(
        settings,
        command=template.render(*listener_address(config), patched)[0],
        config=config,
        config_path=patched,
        template=template,
        tls=tls,
        base_url=build_base_url(*listener_address(config), scheme="https" if tls else "http"),
        log_path=logs_file(settings, tmpdir),
        env=env,
        start_timeout=settings.require("service-start-timeout").start_timeout,
        stop_timeout=settings.stop_timeout,
        own_port=chosen if fixed is None else None,
    )
