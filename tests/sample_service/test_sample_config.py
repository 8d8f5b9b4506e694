"""The static config: what the service reads, how it resolves vars and paths, and how it rejects bad input.

Every bad config must end the process with status 2 and exactly one line on stderr that
names the file, the key path and the problem, with no traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sample_service.sample_helpers import (
    RawWebSocket,
    config_dict,
    free_port,
    http_get,
    start_sample,
    write_config,
)

COMPONENTS = "components_manager.components"


def run_service(
    args: list[str], timeout: float, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sample_service", *args],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], file: Path, key: str, problem: str) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, f"not one line: {result.stderr!r}"
    line = result.stderr.rstrip("\n")
    assert "Traceback" not in line
    assert line.startswith("sample_service: bad config: ")
    assert f"{file}: {key}: " in line, line
    assert problem in line, line
    return line


def components(config: dict[str, Any]) -> dict[str, Any]:
    return config["components_manager"]["components"]


def set_listener(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: components(c)["server"]["listener"].__setitem__(key, value)


def set_chat(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: components(c)["websocket-handler"].__setitem__(key, value)


def set_logger(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: components(c)["logging"]["loggers"]["default"].__setitem__(key, value)


BAD_VALUES = [
    # (id, change, key path, words of the problem)
    ("no-components-manager", lambda c: c.pop("components_manager"), "components_manager", "missing required section"),
    ("no-server", lambda c: components(c).pop("server"), f"{COMPONENTS}.server", "missing required section"),
    (
        "no-listener",
        lambda c: components(c)["server"].pop("listener"),
        f"{COMPONENTS}.server.listener",
        "missing required section",
    ),
    (
        "no-port",
        lambda c: components(c)["server"]["listener"].pop("port"),
        f"{COMPONENTS}.server.listener.port",
        "missing required key",
    ),
    ("port-string", set_listener("port", "eighty"), f"{COMPONENTS}.server.listener.port", "expected a TCP port"),
    ("port-too-big", set_listener("port", 70000), f"{COMPONENTS}.server.listener.port", "got 70000"),
    ("port-bool", set_listener("port", True), f"{COMPONENTS}.server.listener.port", "expected a TCP port"),
    (
        "listener-list",
        lambda c: components(c)["server"].__setitem__("listener", [8080]),
        f"{COMPONENTS}.server.listener",
        "expected a mapping",
    ),
    ("host-number", set_listener("host", 127), f"{COMPONENTS}.server.listener.host", "expected a non-empty string"),
    (
        "grace-words",
        lambda c: components(c)["server"].__setitem__("shutdown-grace-period", "soon"),
        f"{COMPONENTS}.server.shutdown-grace-period",
        "expected a duration",
    ),
    (
        "grace-negative",
        lambda c: components(c)["server"].__setitem__("shutdown-grace-period", -1),
        f"{COMPONENTS}.server.shutdown-grace-period",
        "non-negative",
    ),
    (
        "level-unknown",
        set_logger("level", "verbose"),
        f"{COMPONENTS}.logging.loggers.default.level",
        "expected one of trace, debug",
    ),
    (
        "file-path-unknown-at",
        set_logger("file_path", "@syslog"),
        f"{COMPONENTS}.logging.loggers.default.file_path",
        "'@syslog'",
    ),
    (
        "log-dir-missing",
        set_logger("file_path", "no/such/dir/service.log"),
        f"{COMPONENTS}.logging.loggers.default.file_path",
        "cannot open log file",
    ),
    (
        "no-chat",
        lambda c: components(c).pop("websocket-handler"),
        f"{COMPONENTS}.websocket-handler",
        "missing required section",
    ),
    ("chat-path-relative", set_chat("path", "chat"), f"{COMPONENTS}.websocket-handler.path", "starting with '/'"),
    (
        "payload-zero",
        set_chat("max-remote-payload", 0),
        f"{COMPONENTS}.websocket-handler.max-remote-payload",
        "expected a positive integer",
    ),
    (
        "payload-string",
        set_chat("max-remote-payload", "100k"),
        f"{COMPONENTS}.websocket-handler.max-remote-payload",
        "expected a positive integer",
    ),
    (
        "fragment-float",
        set_chat("fragment-size", 1.5),
        f"{COMPONENTS}.websocket-handler.fragment-size",
        "expected a positive integer",
    ),
    (
        "ping-no-path",
        lambda c: components(c)["handler-ping"].pop("path"),
        f"{COMPONENTS}.handler-ping.path",
        "missing required key",
    ),
    (
        "ping-same-path",
        lambda c: components(c)["handler-ping"].__setitem__("path", "/chat"),
        f"{COMPONENTS}.websocket-handler.path",
        "also the path of handler-ping",
    ),
    (
        "var-undefined",
        set_listener("port", "$service_port"),
        f"{COMPONENTS}.server.listener.port",
        "it is the unresolved config var '$service_port' (no config vars file)",
    ),
    (
        "var-empty-name",
        set_listener("port", "$"),
        f"{COMPONENTS}.server.listener.port",
        "it is the unresolved config var '$'",
    ),
    (
        "fallback-missing",
        lambda c: components(c)["dynamic-config-fallbacks"].__setitem__("fallback-path", "missing.json"),
        f"{COMPONENTS}.dynamic-config-fallbacks.fallback-path",
        "cannot read dynamic config fallback",
    ),
]


@pytest.mark.parametrize(
    "change, key, problem", [case[1:] for case in BAD_VALUES], ids=[case[0] for case in BAD_VALUES]
)
def test_bad_value_exits_2_with_one_line_naming_file_and_key(tmp_path, scaled, change, key, problem):
    """A missing required key, a wrong type or a bad $var exits with status 2 and one stderr line naming the file, the key path and the problem."""
    config = config_dict(free_port(), "service.log")
    change(config)
    path = write_config(tmp_path, config)
    result = run_service(["-c", str(path)], scaled(20), tmp_path)
    assert_one_line_error(result, path, key, problem)


def test_missing_config_file_exits_2(tmp_path, scaled):
    """A config path that does not exist exits with status 2, naming the file and the --config option."""
    path = tmp_path / "nowhere.yaml"
    result = run_service(["--config", str(path)], scaled(20), tmp_path)
    assert_one_line_error(result, path, "(--config)", "No such file or directory")


def test_config_that_is_a_directory_exits_2(tmp_path, scaled):
    """A config path naming a directory exits with status 2."""
    result = run_service(["-c", str(tmp_path)], scaled(20), tmp_path)
    assert_one_line_error(result, tmp_path, "(--config)", "Is a directory")


@pytest.mark.parametrize(
    "text, key, problem",
    [
        ("components_manager:\n  components: [\n", "(YAML syntax at line 3, column 1)", "invalid YAML"),
        ("- just\n- a list\n", "(top level)", "expected a mapping with a 'components_manager' section"),
        ("", "(top level)", "got None"),
        ("components_manager: 5\n", "components_manager", "expected a mapping, got 5 (int)"),
    ],
    ids=["syntax", "list", "empty", "manager-int"],
)
def test_malformed_config_text_exits_2(tmp_path, scaled, text, key, problem):
    """A config that is not YAML, or not a mapping where one is needed, exits with status 2 and names where."""
    path = tmp_path / "static_config.yaml"
    path.write_text(text)
    result = run_service(["-c", str(path)], scaled(20), tmp_path)
    assert_one_line_error(result, path, key, problem)


def test_config_not_utf8_exits_2(tmp_path, scaled):
    """A config file that is not UTF-8 text exits with status 2."""
    path = tmp_path / "static_config.yaml"
    path.write_bytes(b"components_manager: \xff\xfe\n")
    result = run_service(["-c", str(path)], scaled(20), tmp_path)
    assert_one_line_error(result, path, "(--config)", "not UTF-8")


def test_var_of_wrong_type_names_the_var_and_its_file(tmp_path, scaled):
    """A $var whose value has the wrong type exits with status 2, naming the key, the var and the vars file."""
    config = config_dict(free_port(), "service.log")
    components(config)["server"]["listener"]["port"] = "$port"
    path = write_config(tmp_path, config)
    vars_path = tmp_path / "vars.yaml"
    vars_path.write_text("port: not-a-port\n")
    result = run_service(["-c", str(path), "--config-vars", str(vars_path)], scaled(20), tmp_path)
    line = assert_one_line_error(result, path, f"{COMPONENTS}.server.listener.port", "expected a TCP port")
    assert f"config var 'port' from {vars_path}" in line


def test_missing_config_vars_file_exits_2(tmp_path, scaled):
    """A --config-vars file that does not exist exits with status 2 naming it and the option."""
    path = write_config(tmp_path, config_dict(free_port(), "service.log"))
    vars_path = tmp_path / "no-vars.yaml"
    result = run_service(["-c", str(path), "--config-vars", str(vars_path)], scaled(20), tmp_path)
    assert_one_line_error(result, vars_path, "(--config-vars)", "No such file or directory")


def test_config_vars_key_naming_missing_file_exits_2(tmp_path, scaled):
    """A top-level config_vars naming a missing file exits with status 2, naming the config and the key."""
    config = config_dict(free_port(), "service.log")
    config["config_vars"] = "missing_vars.yaml"
    path = write_config(tmp_path, config)
    result = run_service(["-c", str(path)], scaled(20), tmp_path)
    line = assert_one_line_error(result, path, "config_vars", "cannot read")
    assert str(tmp_path / "missing_vars.yaml") in line


def test_config_vars_not_a_mapping_exits_2(tmp_path, scaled):
    """A vars file holding a list instead of a mapping exits with status 2 naming the vars file."""
    path = write_config(tmp_path, config_dict(free_port(), "service.log"))
    vars_path = tmp_path / "vars.yaml"
    vars_path.write_text("- port\n")
    result = run_service(["-c", str(path), "--config-vars", str(vars_path)], scaled(20), tmp_path)
    assert_one_line_error(result, vars_path, "(top level)", "config vars must be a mapping")


@pytest.mark.parametrize(
    "content, problem", [("{not json", "invalid JSON"), ("[1, 2]", "must hold a JSON object")], ids=["syntax", "list"]
)
def test_bad_dynamic_config_fallback_exits_2(tmp_path, scaled, content, problem):
    """A dynamic config fallback that is not a JSON object exits with status 2, naming the key and the JSON file."""
    path = write_config(tmp_path, config_dict(free_port(), "service.log"))
    (tmp_path / "dynamic_config_fallback.json").write_text(content)
    result = run_service(["-c", str(path)], scaled(20), tmp_path)
    line = assert_one_line_error(result, path, f"{COMPONENTS}.dynamic-config-fallbacks.fallback-path", problem)
    assert str(tmp_path / "dynamic_config_fallback.json") in line


def test_help_explains_both_options(tmp_path, scaled):
    """--help describes -c/--config (with the bundled default) and --config-vars, and exits 0."""
    result = run_service(["--help"], scaled(20), tmp_path)
    assert result.returncode == 0
    # argparse writes "-c PATH, --config PATH" before Python 3.13 and "-c, --config PATH" since.
    assert re.search(r"-c( PATH)?, --config PATH", result.stdout), result.stdout
    assert "--config-vars PATH" in result.stdout
    assert "static_config.yaml" in result.stdout


@pytest.mark.parametrize("columns", ["40", "80", "200"])
def test_help_never_cuts_the_default_config_path(tmp_path, scaled, columns):
    """The bundled config's path appears whole in --help at any terminal width, however deep the checkout
    (argparse alone cut it in two when it was longer than a help line, and a CI clone in a long temp dir
    failed the test above)."""
    from sample_service.config import DEFAULT_CONFIG_PATH

    result = run_service(["--help"], scaled(20), tmp_path, env={"COLUMNS": columns})
    assert result.returncode == 0
    assert str(DEFAULT_CONFIG_PATH) in result.stdout, result.stdout


def test_without_arguments_uses_bundled_config(tmp_path, scaled):
    """With no argument the service reads the bundled static_config.yaml: it goes for 127.0.0.1:8080 and logs to stderr.

    The outcome must not depend on whether 8080 is free: the test holds 127.0.0.1:8080 itself
    for the whole run (or, when another listener has it, leaves it to that one), so the
    service always names the bundled address, cannot listen, and exits 1 by itself.
    """
    with hold_port_8080() as held:
        if not held:
            pytest.skip("127.0.0.1:8080 is held by a socket that is not listening: the outcome cannot be fixed")
        result = subprocess.run(
            [sys.executable, "-m", "sample_service"],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=scaled(15),
        )
    text = result.stderr
    assert "CRITICAL sample_service: cannot listen on 127.0.0.1:8080" in text, text
    assert re.search(r"dynamic config: \d+ values from .*dynamic_config_fallback\.json", text), text
    assert result.returncode == 1, text


@contextlib.contextmanager
def hold_port_8080() -> Iterator[bool]:
    """Make sure 127.0.0.1:8080 has a listener while the block runs: ours, or one that was there already.

    Yields whether it has one; ``False`` only when something is bound there without listening.
    """
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers do not count
    try:
        try:
            holder.bind(("127.0.0.1", 8080))
        except OSError:
            with socket.socket() as probe:  # someone has it: fine if they listen
                probe.settimeout(2)
                yield probe.connect_ex(("127.0.0.1", 8080)) == 0
            return
        holder.listen()
        yield True
    finally:
        holder.close()


def test_vars_fallbacks_relative_paths_and_unknown_keys(tmp_path, scaled):
    """$vars resolve from a top-level config_vars file, key#fallback fills an undefined var, relative paths are relative to the config file, unknown keys are ignored."""
    config_dir = tmp_path / "etc"
    port = free_port()
    config = config_dict(port, "$log_file")  # the log file path comes from a var
    config["config_vars"] = "vars/config_vars.yaml"
    config["some_unknown_top_level_key"] = {"anything": [1, 2, 3]}
    parts = components(config)
    parts["server"]["listener"]["port"] = "$port"
    parts["websocket-handler"]["max-remote-payload"] = "$undefined_limit"
    parts["websocket-handler"]["max-remote-payload#fallback"] = 64
    parts["websocket-handler"]["unknown-option"] = True
    parts["tracer"] = {"service-name": "echo"}  # a component the service does not have
    path = write_config(config_dir, config)
    (config_dir / "vars").mkdir()
    (config_dir / "vars" / "config_vars.yaml").write_text(yaml.safe_dump({"port": port, "log_file": "logs/echo.log"}))
    (config_dir / "logs").mkdir()
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    log_path = config_dir / "logs" / "echo.log"
    service = start_sample(path, port, log_path, scaled(15), cwd=elsewhere)
    try:
        log = service.wait_log(f"listening on http://127.0.0.1:{port}", scaled(5))
        assert f"dynamic config: 1 values from {config_dir / 'dynamic_config_fallback.json'}" in log
        conn = RawWebSocket(port, scaled(5))
        assert conn.handshake()[0] == 101
        conn.send(0x2, b"x" * 64)
        assert conn.recv_message() == (0x2, b"x" * 64)
        conn.send(0x2, b"x" * 65)  # over the limit that came from the #fallback
        assert conn.recv_close() == 1009
        conn.close()
    finally:
        assert service.stop(scaled(10)) == 0


def test_command_line_vars_override_config_vars_key(tmp_path, scaled):
    """--config-vars replaces the vars file named by the config's top-level config_vars."""
    port = free_port()
    config = config_dict(port, "service.log")
    config["config_vars"] = "vars.yaml"
    components(config)["server"]["listener"]["port"] = "$port"
    path = write_config(tmp_path, config)
    (tmp_path / "vars.yaml").write_text("port: 1\n")  # would fail: not ours to bind
    cli_vars = tmp_path / "cli_vars.yaml"
    cli_vars.write_text(f"port: {port}\n")
    service = start_sample(
        path, port, tmp_path / "service.log", scaled(15), extra_args=("--config-vars", str(cli_vars))
    )
    assert http_get(port, "/ping", scaled(5))[0] == 200
    assert service.stop(scaled(10)) == 0


def test_shipped_files_are_valid(tmp_path):
    """The bundled static config and dynamic config fallback load without errors and keep userver's values."""
    from sample_service.config import DEFAULT_CONFIG_PATH, load_config

    config = load_config(DEFAULT_CONFIG_PATH)
    assert (config.host, config.port, config.chat_path, config.ping_path) == ("127.0.0.1", 8080, "/chat", "/ping")
    assert (config.max_remote_payload, config.fragment_size) == (100000, 100000)
    assert config.shutdown_grace_period == 2.0
    assert (config.log_file_path, config.log_level) == ("@stderr", "debug")
    shipped = json.loads((DEFAULT_CONFIG_PATH.parent / "dynamic_config_fallback.json").read_text())
    assert config.dynamic_config == shipped and isinstance(shipped, dict)


@pytest.mark.parametrize(
    "text, seconds", [(2, 2.0), (0.25, 0.25), ("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), (" 1.5 s ", 1.5), (0, 0.0)]
)
def test_grace_period_accepts_seconds_and_userver_durations(tmp_path, text, seconds):
    """shutdown-grace-period takes a number of seconds or a string with ms, s, m or h."""
    from sample_service.config import load_config

    config = config_dict(8080, "@null", grace=text)
    assert load_config(write_config(tmp_path, config)).shutdown_grace_period == pytest.approx(seconds)


def test_log_level_is_case_insensitive(tmp_path):
    """The log level is accepted in any case, as userver does."""
    from sample_service.config import load_config

    config = config_dict(8080, "@null", level="WaRnInG")
    assert load_config(write_config(tmp_path, config)).log_level == "warning"


@pytest.mark.parametrize("target", ["@stdout", "@stderr", "@null"])
def test_log_destination_at_forms(tmp_path, scaled, target):
    """file_path '@stdout' and '@stderr' send the log lines there; '@null' writes no log line anywhere."""
    port = free_port()
    path = write_config(tmp_path, config_dict(port, target))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sample_service", "-c", str(path)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + scaled(15)
        while True:
            assert proc.poll() is None, f"the service exited with status {proc.returncode}"
            assert time.monotonic() < deadline, "the service did not answer /ping within the deadline"
            try:
                if http_get(port, "/ping", 1.0)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=scaled(10))
    assert proc.returncode == 0
    listening = f"listening on http://127.0.0.1:{port}"
    assert (listening in stdout, listening in stderr) == {
        "@stdout": (True, False),
        "@stderr": (False, True),
        "@null": (False, False),
    }[target]
    if target == "@null":
        assert stdout == stderr == ""
    assert not list(tmp_path.glob("@*")), "an @ form was taken for a file name"


LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S.*$")


@pytest.mark.parametrize(
    "level, expect_info, expect_debug", [("warning", False, False), ("info", True, False), ("trace", True, True)]
)
def test_log_level_is_honoured(spawn_sample, raw_ws, scaled, level, expect_info, expect_debug):
    """Records below the configured level are not written; a protocol error (WARNING) is written at every level up to warning."""
    service = spawn_sample(level=level)
    conn = raw_ws(service.port)
    conn.send(0x1, b"\xff")  # invalid UTF-8: a WARNING with its context
    assert conn.recv_close() == 1007
    log = service.wait_log("WARNING sample_service.chat: protocol error", scaled(5))
    assert re.search(r"protocol error peer=127\.0\.0\.1:\d+ path=/chat code=1007 error='Invalid UTF-8", log)
    assert service.stop(scaled(10)) == 0
    log = service.log()
    assert (" INFO " in log) is expect_info
    assert (" DEBUG " in log) is expect_debug
    for line in log.splitlines():
        assert LINE.match(line), f"not in the log format: {line!r}"


def test_env_does_not_leak_into_config(tmp_path, scaled):
    """A $var is only looked up in the config vars, never in the environment."""
    config = config_dict(free_port(), "service.log")
    components(config)["server"]["listener"]["port"] = "$PORT_FROM_ENV"
    path = write_config(tmp_path, config)
    result = subprocess.run(
        [sys.executable, "-m", "sample_service", "-c", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=scaled(20),
        env={**os.environ, "PORT_FROM_ENV": "8080"},
    )
    assert_one_line_error(
        result,
        path,
        f"{COMPONENTS}.server.listener.port",
        "missing required key: it is the unresolved config var '$PORT_FROM_ENV'",
    )
