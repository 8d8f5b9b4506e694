"""Loading the static config and its vars, resolving $vars, the built-in hooks, writing the YAML."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_wsservice.errors import ServiceConfigError
from pytest_wsservice.service.config import (
    MakePathsAbsolute,
    PatchDefaultLogger,
    PatchListener,
    apply_config_hooks,
    build_service_config,
    listener_address,
    load_config_vars,
    load_static_config,
    ping_path,
    resolve_config_vars,
    write_service_config,
)

# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: [1,\n b",
            "is not valid YAML: did not find expected ',' or ']' at line 3, column 1 (while parsing a flow sequence); fix the file.",
        ),
        ("- one\n- two\n", "holds a YAML list at the top level; it should be a mapping with a components_manager key."),
        ("", "is empty; it should be a mapping with a components_manager key."),
        ("\xff\xfe", "is not UTF-8 text"),
    ],
)
def test_bad_static_config(tmp_path, text, message):
    """A static config that is not a YAML mapping is refused with its path and the problem."""
    path = tmp_path / "static_config.yaml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ServiceConfigError) as excinfo:
        load_static_config(path, origin="from --service-config")
    assert str(excinfo.value).startswith(f"static config {path} (from --service-config) {message}")


def test_missing_static_config(tmp_path):
    """A missing static config is named, with where its path came from."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(
        ServiceConfigError,
        match=r"^static config .*nope.yaml \(from --service-config\) does not exist; check the path.$",
    ):
        load_static_config(path, origin="from --service-config")


def test_config_vars_file(tmp_path):
    """A vars file loads as a dict; an empty one holds no vars; a list is refused; a missing one is named."""
    path = tmp_path / "vars.yaml"
    path.write_text("port: 8080\nname: chat\n")
    assert load_config_vars(path) == {"port": 8080, "name": "chat"}
    path.write_text("")
    assert load_config_vars(path) == {}
    path.write_text("- 1\n")
    with pytest.raises(
        ServiceConfigError, match="holds a YAML list at the top level; it should map var names to values"
    ):
        load_config_vars(path)
    with pytest.raises(
        ServiceConfigError, match=r"^config vars file .*missing.yaml \(from --service-config-vars\) does not exist"
    ):
        load_config_vars(tmp_path / "missing.yaml", origin="from --service-config-vars")


# --------------------------------------------------------------------------- $vars


def test_vars_resolve_with_userver_fallbacks():
    """$name takes the var, else the key#fallback sibling; #fallback keys disappear; lists resolve too."""
    config = {
        "server": {"port": "$port", "port#fallback": 1, "host": "$host", "host#fallback": "127.0.0.1"},
        "list": ["$name", "plain"],
        "nested": {"deep": {"value": "$name"}},
        "number": 3,
    }
    resolved = resolve_config_vars(config, {"port": 8080, "name": "chat"})
    assert resolved == {
        "server": {"port": 8080, "host": "127.0.0.1"},
        "list": ["chat", "plain"],
        "nested": {"deep": {"value": "chat"}},
        "number": 3,
    }
    assert config["server"]["port"] == "$port"  # the input is left alone


def test_undefined_var_names_the_key_path():
    """An undefined var without a fallback is an error naming the key path, the var and the fix."""
    config = {"components_manager": {"components": {"server": {"listener": {"port": "$server_port"}}}}}
    with pytest.raises(ServiceConfigError) as excinfo:
        resolve_config_vars(config, {}, source="static config /x/static_config.yaml")
    assert str(excinfo.value) == (
        "static config /x/static_config.yaml: components_manager.components.server.listener.port is "
        "'$server_port', but config var 'server_port' is not defined and there is no 'port#fallback' sibling key. "
        "Define server_port in the config vars (--service-config-vars or config_vars:) or add port#fallback: "
        "<value> next to port."
    )


def test_undefined_var_in_a_list_names_the_index():
    """An undefined var inside a list names the list item's index."""
    with pytest.raises(
        ServiceConfigError, match=r"^static config: hosts\[1\] is '\$other', but config var 'other' is not defined\."
    ):
        resolve_config_vars({"hosts": ["a", "$other"]}, {})


# --------------------------------------------------------------------------- built-in hooks


def test_make_paths_absolute(tmp_path):
    """Relative *-path/*_path values become absolute; @-values, empty strings and absolute paths stay; $var paths are
    fixed in the vars.
    """
    config = {
        "a": {"fallback-path": "dyn.json", "fs-cache-path": "", "file_path": "@stderr"},
        "b": [{"cert_path": "certs/x.pem"}, {"other": "rel.txt"}],
        "c": {"abs-path": "/etc/hosts", "var-path": "$dir", "var-path#fallback": "fb/dir"},
    }
    config_vars = {"dir": "data"}
    MakePathsAbsolute(tmp_path)(config, config_vars)
    assert config == {
        "a": {"fallback-path": str(tmp_path / "dyn.json"), "fs-cache-path": "", "file_path": "@stderr"},
        "b": [{"cert_path": str(tmp_path / "certs/x.pem")}, {"other": "rel.txt"}],
        "c": {"abs-path": "/etc/hosts", "var-path": "$dir", "var-path#fallback": str(tmp_path / "fb/dir")},
    }
    assert config_vars == {"dir": str(tmp_path / "data")}


def test_relative_base_dir_gives_absolute_paths(tmp_path, monkeypatch):
    """A relative base directory still yields absolute paths, so the service's working directory does not matter."""
    monkeypatch.chdir(tmp_path)
    config = {"fallback-path": "dyn.json"}
    MakePathsAbsolute(Path("conf"))(config, {})
    assert config == {"fallback-path": str(tmp_path / "conf" / "dyn.json")}


def test_listener_and_logger_hooks_create_missing_sections():
    """The listener and default-logger hooks set their keys, creating the userver sections that are missing."""
    config: dict = {}
    PatchListener(host="127.0.0.1", port=4321)(config, {})
    PatchDefaultLogger(file_path="@stderr", level="info")(config, {})
    assert config == {
        "components_manager": {
            "components": {
                "server": {"listener": {"host": "127.0.0.1", "port": 4321}},
                "logging": {"loggers": {"default": {"file_path": "@stderr", "level": "info"}}},
            }
        }
    }
    assert listener_address(config) == ("127.0.0.1", 4321)


def test_logger_hook_without_level_keeps_the_configs():
    """With no level given, the default logger keeps the config's level."""
    config = {
        "components_manager": {
            "components": {"logging": {"loggers": {"default": {"level": "debug", "file_path": "x.log"}}}}
        }
    }
    PatchDefaultLogger(file_path="@stderr")(config, {})
    assert config["components_manager"]["components"]["logging"]["loggers"]["default"] == {
        "level": "debug",
        "file_path": "@stderr",
    }


def test_listener_var_is_replaced_by_the_hook():
    """A $var port in the config is replaced by the hook's port, and its #fallback no longer matters."""
    config = {"components_manager": {"components": {"server": {"listener": {"port": "$port", "port#fallback": 80}}}}}
    assert build_service_config(config, {}, [("listener", PatchListener("127.0.0.1", 5555))]) == {
        "components_manager": {"components": {"server": {"listener": {"port": 5555, "host": "127.0.0.1"}}}}
    }


def test_hook_in_the_way_of_a_non_mapping():
    """A hook that meets a list where it needs a mapping fails with the hook's name and the key path."""
    config = {"components_manager": {"components": {"server": ["oops"]}}}
    with pytest.raises(ServiceConfigError) as excinfo:
        apply_config_hooks(
            config, {}, [("PatchListener(...)", PatchListener("127.0.0.1", 1))], source="static config s.yaml"
        )
    assert str(excinfo.value) == (
        "config hook PatchListener(...) failed on static config s.yaml: ServiceConfigError: "
        "components_manager.components.server is a YAML list; the listener hook needs a mapping there"
    )


def test_listener_address_and_ping_path():
    """A wildcard listener host is reached through loopback; the ping path gets a leading slash."""
    config = {
        "components_manager": {
            "components": {"server": {"listener": {"port": 9, "host": "::"}}, "handler-ping": {"path": "ping"}}
        }
    }
    assert listener_address(config) == ("::1", 9)
    assert ping_path(config) == "/ping"
    assert ping_path({}) is None
    with pytest.raises(ServiceConfigError, match="port = None; it should be a port number"):
        listener_address({})


# --------------------------------------------------------------------------- applying hooks


def test_hooks_run_in_order_on_deep_copies():
    """Hooks see each other's changes in order, may set vars, and never touch the caller's dicts."""
    config = {"a": {"b": 1}, "v": "$v"}
    config_vars = {"v": "original"}
    calls = []

    def first(config, config_vars):
        calls.append("first")
        config["a"]["b"] = 2
        config_vars["v"] = "from hook"

    def second(config, config_vars):
        calls.append(("second", config["a"]["b"]))

    result = build_service_config(config, config_vars, [("first", first), ("second", second)])
    assert calls == ["first", ("second", 2)]
    assert result == {"a": {"b": 2}, "v": "from hook"}
    assert config == {"a": {"b": 1}, "v": "$v"} and config_vars == {"v": "original"}


def test_raising_hook_is_named():
    """A hook that raises is reported by name with its exception."""

    def broken(config, config_vars):
        raise KeyError("listener")

    with pytest.raises(
        ServiceConfigError, match=r"^config hook mine\.broken failed on static config x\.yaml: KeyError: 'listener'$"
    ):
        apply_config_hooks({}, {}, [("mine.broken", broken)], source="static config x.yaml")


def test_hook_returning_a_value_is_refused():
    """A hook that returns a new config instead of changing it in place is refused, so the change is not lost."""
    with pytest.raises(
        ServiceConfigError,
        match=r"^config hook h returned a dict; hooks change the config dict in place and return None.$",
    ):
        apply_config_hooks({}, {}, [("h", lambda config, config_vars: {"x": 1})])


def test_path_values_become_strings():
    """A pathlib.Path set by a hook reads back from the built config as the string the service gets."""

    def hook(config, config_vars):
        config["fallback-path"] = Path("/srv/fallback.json")

    assert build_service_config({}, {}, [("hook", hook)]) == {"fallback-path": "/srv/fallback.json"}


def test_config_vars_key_is_dropped():
    """The patched config has no config_vars key: the service needs no vars file."""
    assert build_service_config({"config_vars": "vars.yaml", "x": "$x"}, {"x": 1}) == {"x": 1}


# --------------------------------------------------------------------------- writing


def test_write_round_trips_and_stringifies_paths(tmp_path):
    """The written YAML loads back as the same config, with pathlib paths as strings and key order kept."""
    config = {"z": 1, "a": {"file-path": tmp_path / "x.json", "list": [1, "two", None, True, 1.5]}}
    path = write_service_config(config, tmp_path)
    assert path == tmp_path / "static_config.yaml"
    assert list(yaml.safe_load(path.read_text())) == ["z", "a"]
    assert yaml.safe_load(path.read_text()) == {
        "z": 1,
        "a": {"file-path": str(tmp_path / "x.json"), "list": [1, "two", None, True, 1.5]},
    }


def test_write_keeps_long_strings_on_one_line(tmp_path):
    """A long string with spaces is written on one line, which small YAML readers need."""
    long_value = " ".join(["word"] * 40)
    path = write_service_config({"key": long_value}, tmp_path)
    assert path.read_text() == f"key: {long_value}\n"


def test_write_refuses_unstorable_values(tmp_path):
    """A value YAML cannot store is reported with its key path."""
    with pytest.raises(
        ServiceConfigError, match=r"^the patched config has a set at a\.b\[0\], which YAML cannot store"
    ):
        write_service_config({"a": {"b": [{1, 2}]}}, tmp_path)


# --------------------------------------------------------------------------- through the plugin


def test_config_vars_key_relative_to_the_config(project):
    """The config's config_vars: path is read relative to the config file; the patched file is self-contained."""
    project.mkdir("conf")
    Path(project.path, "conf", "static.yaml").write_text(
        "config_vars: vars/vars.yaml\ncomponents_manager:\n  components:\n    greeting:\n      text: $text\n"
    )
    project.mkdir("conf/vars")
    Path(project.path, "conf", "vars", "vars.yaml").write_text("text: hello\n")
    project.makepyfile(
        """
        import yaml

        def test_it(service_config_vars, service_config, service_config_path_temp):
            assert service_config_vars == {"text": "hello"}
            assert service_config["components_manager"]["components"]["greeting"] == {"text": "hello"}
            assert "config_vars" not in service_config
            assert yaml.safe_load(service_config_path_temp.read_text()) == service_config
        """
    )
    project.runpytest_inprocess("--service-config=conf/static.yaml").assert_outcomes(passed=1)


def test_vars_option_beats_config_vars_key(project):
    """--service-config-vars replaces the file named by the config's config_vars: key."""
    Path(project.path, "static.yaml").write_text("config_vars: missing.yaml\ntext: $text\n")
    Path(project.path, "mine.yaml").write_text("text: from option\n")
    project.makepyfile("def test_it(service_config):\n    assert service_config['text'] == 'from option'\n")
    project.runpytest_inprocess("--service-config=static.yaml", "--service-config-vars=mine.yaml").assert_outcomes(
        passed=1
    )


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        (
            {},
            ["--service-config=missing.yaml"],
            "static config {path}/missing.yaml (from --service-config) does not exist; check the path.",
        ),
        (
            {"s.yaml": "x: [1,\n"},
            ["--service-config=s.yaml"],
            "static config {path}/s.yaml (from --service-config) is not valid YAML: *",
        ),
        (
            {"s.yaml": "config_vars: v.yaml\n"},
            ["--service-config=s.yaml"],
            "config vars file {path}/v.yaml (named by config_vars in {path}/s.yaml) does not exist; check the path.",
        ),
        (
            {"s.yaml": "a: 1\n"},
            ["--service-config=s.yaml", "--service-config-vars=v.yaml"],
            "config vars file {path}/v.yaml (from --service-config-vars) does not exist; check the path.",
        ),
        (
            {"s.yaml": "a: $nope\n"},
            ["--service-config=s.yaml"],
            "static config {path}/s.yaml: a is '$nope', but config var 'nope' is not defined and there is no 'a#fallback' sibling key.*",
        ),
    ],
)
def test_config_errors_through_the_plugin(project, files, args, message):
    """Config problems fail the test setup with one message naming the file (and key), without a traceback."""
    for name, text in files.items():
        Path(project.path, name).write_text(text)
    project.makepyfile("def test_it(service_config):\n    pass\n")
    result = project.runpytest_inprocess(*args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"pytest_wsservice.errors.ServiceConfigError: {message.format(path=project.path)}"])
    result.stdout.no_fnmatch_line("*config.py:*")
