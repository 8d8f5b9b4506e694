"""The plugin's options and ini values: declared here, parsed ONCE into :class:`Settings`.

Each ``--service-*`` option is also an ini value (``service_port = 8080``); the command
line wins over the ini file. :func:`pytest_configure` parses them all into the frozen
:class:`~pytest_wsservice.service.recipe.Settings`, kept in ``config.stash``; every other
module reads :func:`settings_of`, never the options. A new option is one row of
``OPTIONS`` here plus one field and parser in :mod:`pytest_wsservice.service.recipe`.
Imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..service.recipe import RawSetting, Settings, parse_settings

__all__ = ["OPTIONS", "SETTINGS", "settings_of", "worker_id"]

# name, metavar, help. Each is --NAME on the command line and NAME_WITH_UNDERSCORES in the ini.
OPTIONS = (
    (
        "service-config",
        "PATH",
        "the service's static config (YAML, userver layout). Default: the bundled sample_service/static_config.yaml.",
    ),
    (
        "service-config-vars",
        "PATH",
        "the config vars YAML that $name values come from. Default: the config's config_vars: key, if any.",
    ),
    (
        "service-command",
        "CMD",
        "how to start the service, split like a shell would but never run by one. Placeholders: {host} {port} "
        "{config} {tmpdir}, with --service-tls {tls_cert} {tls_key} {tls_ca}; {{ }} for braces. With a static config "
        "and no placeholder, --config PATH is appended; without --service-config the service is configless (no config "
        "loaded or appended). Default: the bundled sample service run by this Python.",
    ),
    ("service-binary", "CMD", "another name for --service-command."),
    (
        "service-env",
        "NAME=VALUE",
        "add NAME=VALUE to the service's environment (repeatable; in the ini, one per line); the value takes the "
        "placeholders of --service-command, e.g. PORT={port}.",
    ),
    (
        "service-ping",
        "PATH",
        "readiness: GET PATH must answer 2xx (a 404 fails at once); overrides the config's handler-ping. Default: the "
        "config's handler-ping, else a TCP connect.",
    ),
    (
        "service-port",
        "N",
        "the listener port (xdist worker gwK uses N+K). Default: a free port for each run and each xdist worker.",
    ),
    (
        "service-start-timeout",
        "SECONDS",
        "how long to wait for the service to be ready. Default: 30.",
    ),
    (
        "service-log-level",
        "LEVEL",
        "the default logger's level: trace, debug, info, warning, error or critical. Default: the config's.",
    ),
    (
        "service-logs-file",
        "PATH",
        "where the service's output and log go (xdist worker gwK writes PATH with .gwK before the suffix). "
        "Default: service.log in the session's temp dir.",
    ),
    (
        "websocket-timeout",
        "SECONDS",
        "default deadline for opening a WebSocket connection and for each recv. Default: 10.",
    ),
    (
        "service-url",
        "URL",
        "test the service already running at URL (http:// or ws://, e.g. in a container): start nothing, only"
        " check that it is ready. Default: start the service.",
    ),
    (
        "service-early-start",
        "yes|no",
        "start the service while pytest collects tests, when the plugin is configured (an option or ini value"
        " of ours, or a conftest naming pytest_wsservice in pytest_plugins), else from the first collected "
        "test that needs it; the first test adopts it if its recipe is the same. Default: yes.",
    ),
    (
        "service-reuse",
        "MODE",
        "keep the service running after the run, and let the next run with the same recipe adopt it (the edit-run "
        "loop): yes (the bare option), no, force (also under CI or xdist), or stop (stop the kept service and exit)."
        " Default: no.",
    ),
    (
        "service-reuse-idle",
        "SECONDS",
        "a kept service (--service-reuse) stops after this many seconds unused. Default: 600.",
    ),
)

SETTINGS = pytest.StashKey[Settings]()

#: Options that are not a plain "--name VALUE": how they are declared, and their ini type.
_SPECIAL: dict[str, tuple[dict[str, Any], Any]] = {
    "service-env": ({"action": "append"}, "linelist"),
    "service-reuse": ({"nargs": "?", "const": "yes"}, None),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsservice", "wsservice: start a WebSocket service from its static config")
    for name, metavar, help_text in OPTIONS:
        dest = name.replace("-", "_")
        declare, ini_type = _SPECIAL.get(name, ({}, None))
        group.addoption(f"--{name}", dest=dest, metavar=metavar, default=None, help=help_text, **declare)
        relative = " Relative paths are relative to the ini file." if metavar in ("PATH", "CMD") else ""
        if ini_type is None:
            parser.addini(dest, f"[wsservice] {help_text}{relative}", default="")
        else:
            parser.addini(dest, f"[wsservice] {help_text}{relative}", type=ini_type, default=[])
    group.addoption(
        "--service-tls",
        dest="service_tls",
        action="store_const",
        const="true",
        default=None,
        help="serve and test over TLS: a throwaway CA and certificate (trustme) in the session's temp dir, given to "
        "the service (server.listener.tls in the config, or {tls_cert} {tls_key} {tls_ca}); https, wss, the probe "
        "and the clients trust that CA only. Ini: service_tls = true.",
    )
    parser.addini("service_tls", "[wsservice] serve and test over TLS (see --service-tls): true or false.", default="")
    group.addoption(
        "--service-runner-mode",
        dest="service_runner_mode",
        action="store_true",
        default=False,
        help="start the service with the patched config, print its URLs, config path and log path, and keep it "
        "running until Ctrl-C (runs no tests): for poking at it by hand with wscat or a browser.",
    )


@pytest.hookimpl(tryfirst=True)  # before the other plugin modules' pytest_configure read it
def pytest_configure(config: pytest.Config) -> None:
    from ..service.hooks import make_control_secret

    raw = {}
    for name in [*(option[0] for option in OPTIONS), "service-tls"]:
        setting = _raw_setting(config, name)
        if setting is not None:
            raw[name] = setting
    try:
        settings = parse_settings(
            raw,
            worker_id(config),
            runner_mode=bool(config.getoption("service_runner_mode")),
            control_secret=make_control_secret(),
        )
    except ValueError as error:  # a bad value is a usage error now, not a silent default
        raise pytest.UsageError(str(error)) from None
    config.stash[SETTINGS] = settings
    if settings.runner_mode:
        if getattr(config.option, "numprocesses", None):
            raise pytest.UsageError("--service-runner-mode runs one service by hand; it cannot be combined with -n.")
        if settings.service_url is not None:
            raise pytest.UsageError(
                "--service-runner-mode starts the service; it cannot be combined with --service-url."
            )


def settings_of(config: pytest.Config) -> Settings:
    """The session's parsed :class:`Settings` (set by this module's ``pytest_configure``)."""
    return config.stash[SETTINGS]


def worker_id(config: pytest.Config) -> str | None:
    """The pytest-xdist worker this process is (``"gw0"``), or ``None``."""
    workerinput = getattr(config, "workerinput", None)  # set by pytest-xdist in its workers
    return workerinput.get("workerid") if workerinput else None


def _raw_setting(config: pytest.Config, name: str) -> RawSetting | None:
    """An option as given: the command line wins over the ini file; ``None`` if neither sets it."""
    dest = name.replace("-", "_")
    value = config.getoption(dest)
    if isinstance(value, list):  # a repeatable option: one entry per line
        value = "\n".join(value)
    if value is not None:
        return RawSetting(str(value), config.invocation_params.dir, f"--{name}")
    value = config.getini(dest)
    if isinstance(value, list):
        value = "\n".join(value)
    if value:
        if config.inipath is not None:
            return RawSetting(str(value), config.inipath.parent, f"{dest} in {config.inipath}")
        return RawSetting(str(value), config.rootpath, f"{dest} (ini override)")
    return None
