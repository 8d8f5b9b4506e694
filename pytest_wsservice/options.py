"""The plugin's options (command line and ini) and the default values built from them.

Each ``--service-*`` option is also an ini value; :func:`_setting` reads one, the command
line winning over the ini file. The ``_default_*`` functions are the default fixtures'
bodies, shared with the early start (:mod:`.early`) so that both build the same recipe.
Imports nothing heavy: PyYAML and yarl are imported inside the functions that need them.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from .errors import ServiceConfigError

if TYPE_CHECKING:
    from yarl import URL

# name, metavar, help. Each is --NAME on the command line and NAME_WITH_UNDERSCORES in the ini.
_OPTIONS = (
    ("service-config", "PATH", "the service's static config (YAML, userver layout). Default: the bundled sample_service/static_config.yaml."),
    ("service-config-vars", "PATH", "the config vars YAML that $name values come from. Default: the config's config_vars: key, if any."),
    ("service-command", "CMD", "how to start the service, split like a shell would but never run by one; {config} is replaced by the patched config's path, else --config PATH is appended. Default: the bundled sample service run by this Python."),
    ("service-port", "N", "the listener port (xdist worker gwK uses N+K). Default: a free port for each run and each xdist worker."),
    ("service-start-timeout", "SECONDS", "how long to wait for the service to be ready. Default: 30."),
    ("service-log-level", "LEVEL", "the default logger's level: trace, debug, info, warning, error or critical. Default: the config's."),
    ("service-logs-file", "PATH", "where the service's output and log go (xdist worker gwK writes PATH with .gwK before the suffix). Default: service.log in the session's temp dir."),
    ("websocket-timeout", "SECONDS", "default deadline for opening a WebSocket connection and for each recv. Default: 10."),
    ("service-url", "URL", "test the service already running at URL (http:// or ws://, e.g. in a container): start nothing, only check that it is ready. Default: start the service."),
    ("service-early-start", "yes|no", "start the service while pytest collects tests, when the plugin is configured (an option or ini value of ours, or a conftest naming pytest_wsservice in pytest_plugins), else from the first collected test that needs it; the first test adopts it if its recipe is the same. Default: yes."),
)

DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 5.0
DEFAULT_WEBSOCKET_TIMEOUT = 10.0

_YES_NO = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


class _Setting:
    """One option's value and where it came from (paths are relative to ``base_dir``)."""

    # A plain class, not a dataclass: building a dataclass costs ~0.6 ms at import.
    __slots__ = ("value", "base_dir", "origin")

    def __init__(self, value: str, base_dir: Path, origin: str) -> None:
        self.value = value
        self.base_dir = base_dir
        self.origin = origin

    def path(self) -> Path:
        return (self.base_dir / Path(self.value).expanduser()).absolute()

    def number(self, kind: Callable[[str], float], what: str, minimum: float, maximum: float = float("inf")) -> Any:
        try:
            number = kind(self.value)
        except ValueError:
            number = None
        if number is None or not minimum <= number <= maximum:  # also rejects NaN
            raise ServiceConfigError(f"{self.origin} is {self.value!r}; it should be {what}.")
        return number


def _setting(config: pytest.Config, name: str) -> _Setting | None:
    """Return an option: the command line wins over the ini file; ``None`` if neither sets it."""
    dest = name.replace("-", "_")
    value = config.getoption(dest)
    if value is not None:
        return _Setting(str(value), config.invocation_params.dir, f"--{name}")
    value = config.getini(dest)
    if value:
        if config.inipath is not None:
            return _Setting(str(value), config.inipath.parent, f"{dest} in {config.inipath}")
        return _Setting(str(value), config.rootpath, f"{dest} (ini override)")
    return None


def _seconds(config: pytest.Config, name: str, default: float) -> float:
    """Return a duration option in seconds, or ``default`` if it is not set."""
    setting = _setting(config, name)
    if setting is None:
        return default
    return setting.number(float, "a positive number of seconds", 0.001)


def _early_start_enabled(config: pytest.Config) -> bool:
    """``--service-early-start`` / ``service_early_start``: yes (default) or no."""
    setting = _setting(config, "service-early-start")
    if setting is None:
        return True
    value = _YES_NO.get(setting.value.strip().lower())
    if value is None:
        raise pytest.UsageError(f"{setting.origin} is {setting.value!r}; it should be yes or no (or true/false, on/off).")
    return value


def _worker_id(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)  # set by pytest-xdist in its workers
    return workerinput.get("workerid") if workerinput else None


def _service_url(config: pytest.Config) -> URL | None:
    """``--service-url`` as an ``http``/``https`` base URL ending in ``/``, or ``None``."""
    setting = _setting(config, "service-url")
    if setting is None:
        return None
    from yarl import URL

    try:
        url = URL(setting.value.strip())
        scheme = {"http": "http", "ws": "http", "https": "https", "wss": "https"}.get(url.scheme)
        valid = scheme is not None and bool(url.host) and url.port is not None
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ServiceConfigError(
            f"{setting.origin} is {setting.value!r}; it should be the URL of a running service, such as "
            "http://127.0.0.1:8080/ or ws://localhost:8080/."
        )
    path = url.path if url.path.endswith("/") else url.path + "/"
    return url.with_scheme(scheme).with_path(path).with_query(None).with_fragment(None)


def _fixed_port(pytestconfig: pytest.Config, setting: _Setting) -> int:
    from .ports import worker_port

    port = setting.number(int, "a port number from 1 to 65535", 1, 65535)
    try:
        return worker_port(port, _worker_id(pytestconfig))
    except ValueError as error:
        raise ServiceConfigError(f"{setting.origin} is {setting.value!r}: {error}.") from None


def _default_config_path(pytestconfig: pytest.Config) -> Path:
    setting = _setting(pytestconfig, "service-config")
    if setting is not None:
        return setting.path()
    spec = importlib.util.find_spec("sample_service")  # locate it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ServiceConfigError(
            "no static config given: pass --service-config PATH (or set service_config in the ini file); "
            "the bundled sample_service, the default, is not installed."
        )
    return Path(list(spec.submodule_search_locations)[0], "static_config.yaml")


def _default_config_yaml(pytestconfig: pytest.Config, service_config_path: Path) -> dict[str, Any]:
    from .config import load_static_config

    setting = _setting(pytestconfig, "service-config")
    return load_static_config(service_config_path, origin=f"from {setting.origin}" if setting else "")


def _default_config_vars(
    pytestconfig: pytest.Config, service_config_path: Path, service_config_yaml: dict[str, Any]
) -> dict[str, Any]:
    from .config import config_vars_path, load_config_vars

    setting = _setting(pytestconfig, "service-config-vars")
    if setting is not None:
        return load_config_vars(setting.path(), origin=f"from {setting.origin}")
    path = config_vars_path(service_config_yaml, service_config_path)
    if path is None:
        return {}
    return load_config_vars(path, origin=f"named by config_vars in {service_config_path}")


def _default_config_hooks(
    service_config_path: Path, service_host: str, service_port: int, service_log_level: str | None
) -> list[Any]:
    from .config import MakePathsAbsolute, PatchDefaultLogger, PatchListener

    return [
        MakePathsAbsolute(service_config_path.parent),
        PatchListener(host=service_host, port=service_port),
        PatchDefaultLogger(file_path="@stderr", level=service_log_level),
    ]


def _default_log_level(pytestconfig: pytest.Config) -> str | None:
    from .config import LOG_LEVELS

    setting = _setting(pytestconfig, "service-log-level")
    if setting is None:
        return None
    level = setting.value.strip().lower()
    if level not in LOG_LEVELS:
        raise ServiceConfigError(f"{setting.origin} is {setting.value!r}; it should be one of {', '.join(LOG_LEVELS)}.")
    return level


def _default_logs_file(pytestconfig: pytest.Config, service_tmpdir: Path) -> Path:
    setting = _setting(pytestconfig, "service-logs-file")
    if setting is None:
        return service_tmpdir / "service.log"
    path = setting.path()
    worker = _worker_id(pytestconfig)
    return path.with_name(f"{path.stem}.{worker}{path.suffix}") if worker else path


def _default_command(pytestconfig: pytest.Config, service_config_path_temp: Path) -> list[str]:
    config_path = str(service_config_path_temp)
    setting = _setting(pytestconfig, "service-command")
    if setting is None:
        return [sys.executable, "-m", "sample_service", "--config", config_path]
    try:
        argv = shlex.split(setting.value)
    except ValueError as error:
        raise ServiceConfigError(f"{setting.origin} cannot be split into arguments ({error}): {setting.value!r}.") from None
    if not argv:
        raise ServiceConfigError(f"{setting.origin} is empty; it should be the command that starts the service.")
    # A relative program path ("./build/service") is relative to where the option was given.
    if "/" in argv[0] and not Path(argv[0]).is_absolute():
        argv[0] = str(setting.base_dir / argv[0])
    if any("{config}" in arg for arg in argv):
        return [arg.replace("{config}", config_path) for arg in argv]
    return [*argv, "--config", config_path]
