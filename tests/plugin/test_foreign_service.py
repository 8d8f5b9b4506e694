"""A user points the plugin at a WebSocket service written in another language (Perl).

Each test writes a user's suite with pytester (the userver tutorial's echo test verbatim,
a binary echo and a ``/ping`` through ``service_client``) and runs it in a fresh
``python -m pytest`` subprocess, as the user would, against
``examples/perl_echo/echo_service.pl``: a real Perl process on a real socket.
"""

from __future__ import annotations

import shlex
import shutil
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "perl_echo"
SCRIPT = EXAMPLE / "echo_service.pl"
CONFIG = EXAMPLE / "static_config.yaml"

# The user's suite. The first test is the userver tutorial's, unchanged: no asyncio marker.
USER_TESTS = """
import psutil

EXPECTED_ARGV = {expected_argv!r}


async def test_echo(websocket_client):
    async with websocket_client.get('chat') as chat:
        await chat.send('hello')
        response = await chat.recv()
        assert response == 'hello'


async def test_binary_echo(websocket_client):
    async with websocket_client.get('/chat') as chat:
        await chat.send(b'\\x00\\x01\\xfe\\xff')
        assert await chat.recv() == b'\\x00\\x01\\xfe\\xff'


async def test_ping(service_client):
    response = await service_client.get('/ping')
    assert response.status == 200


def test_the_service_is_the_perl_one(service_start):
    argv = psutil.Process(service_start.pid).cmdline()
    assert [arg.replace(str(service_start.config_path), '{{config}}') for arg in argv] == EXPECTED_ARGV
    log = service_start.log_path.read_text()
    assert f'perl_echo: listening on http://127.0.0.1:{{service_start.port}}' in log
"""

USER_CONFTEST = "pytest_plugins = ['pytest_wsservice']\n"
LOOP_SCOPE = "asyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def perl() -> str:
    """Perl is part of every supported machine; its absence is a broken set-up, not a skip."""
    path = shutil.which("perl")
    if path is None:
        pytest.fail(
            "perl is not on PATH: these tests run examples/perl_echo/echo_service.pl, which needs only a "
            "stock perl 5 (apt-get install perl-base, or the perl of your OS), and must not be skipped.",
            pytrace=False,
        )
    return path


def write_user_suite(pytester: pytest.Pytester, expected_argv: list[str]) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_echo=USER_TESTS.format(expected_argv=expected_argv))


def copy_example_config(pytester: pytest.Pytester) -> None:
    """Put the example config in the user's project, where ini paths are relative to."""
    (pytester.path / "service").mkdir()
    shutil.copyfile(CONFIG, pytester.path / "service" / "static_config.yaml")


def run(pytester: pytest.Pytester, scaled, *args: str) -> pytest.RunResult:
    # "--opt=value", not "--opt value": pytest takes an existing path given as a separate
    # argument into its rootdir search, and would find this repository's pyproject.toml.
    return pytester.runpytest_subprocess(
        f"--service-start-timeout={scaled(30)}", f"--websocket-timeout={scaled(10)}", *args, timeout=scaled(120)
    )


@pytest.mark.parametrize(
    ("command", "expected_tail"),
    [
        pytest.param(shlex.join(["perl", str(SCRIPT)]), ["--config", "{config}"], id="config-appended"),
        pytest.param(shlex.join(["perl", str(SCRIPT)]) + " -c {config}", ["-c", "{config}"], id="config-placeholder"),
    ],
)
def test_command_line_options(pytester, scaled, command, expected_tail):
    """The tutorial suite passes against the Perl service named by --service-config and --service-command."""
    pytester.makeini("[pytest]\n" + LOOP_SCOPE)
    write_user_suite(pytester, ["perl", str(SCRIPT), *expected_tail])
    result = run(pytester, scaled, f"--service-config={CONFIG}", f"--service-command={command}")
    result.assert_outcomes(passed=4)


def test_pytest_ini_twins(pytester, scaled):
    """The same suite passes with service_config (relative to pytest.ini) and service_command in pytest.ini."""
    copy_example_config(pytester)
    pytester.makefile(
        ".ini",
        pytest=f"[pytest]\n{LOOP_SCOPE}service_config = service/static_config.yaml\n"
        f"service_command = perl {shlex.quote(str(SCRIPT))}\n",
    )
    write_user_suite(pytester, ["perl", str(SCRIPT), "--config", "{config}"])
    run(pytester, scaled).assert_outcomes(passed=4)


def test_pyproject_twins_with_placeholder_in_auto_mode(pytester, scaled):
    """The same suite passes from pyproject.toml with a {config} placeholder, under asyncio auto mode."""
    copy_example_config(pytester)
    command = shlex.join(["perl", str(SCRIPT)]) + " --config={config}"
    pytester.makepyprojecttoml(
        f"""
        [tool.pytest.ini_options]
        asyncio_mode = "auto"
        asyncio_default_fixture_loop_scope = "function"
        service_config = "service/static_config.yaml"
        service_command = {command!r}
        """
    )
    write_user_suite(pytester, ["perl", str(SCRIPT), "--config={config}"])
    run(pytester, scaled).assert_outcomes(passed=4)


def test_xdist_workers_each_start_a_perl_service(pytester, scaled):
    """Under xdist each worker starts its own Perl service on its own port, and the suite passes."""
    pytester.makeini("[pytest]\n" + LOOP_SCOPE)
    write_user_suite(pytester, ["perl", str(SCRIPT), "--config", "{config}"])
    # Each worker records the port of the service it started.
    pytester.makeconftest(
        USER_CONFTEST
        + textwrap.dedent(
            """
            import pytest

            @pytest.fixture(scope="session", autouse=True)
            def record_port(service_start, worker_id, pytestconfig):
                (pytestconfig.rootpath / f"port-{worker_id}").write_text(str(service_start.port))
            """
        )
    )
    result = run(pytester, scaled, "-n", "2", f"--service-config={CONFIG}", f"--service-command=perl {SCRIPT}")
    result.assert_outcomes(passed=4)
    ports = {path.name: int(path.read_text()) for path in pytester.path.glob("port-*")}
    assert sorted(ports) == ["port-gw0", "port-gw1"]
    assert ports["port-gw0"] != ports["port-gw1"]


def test_missing_executable_is_one_clear_line(pytester, scaled):
    """A service command whose program does not exist fails at once with one line naming the program."""
    pytester.makeini("[pytest]\n" + LOOP_SCOPE)
    write_user_suite(pytester, [])
    # A long start timeout: if the plugin waited for readiness, the run's own deadline would fire.
    result = pytester.runpytest_subprocess(
        f"--service-config={CONFIG}",
        "--service-command=no-such-wsservice-binary --port 1",
        "--service-start-timeout=600",
        timeout=scaled(60),
    )
    result.assert_outcomes(passed=0, errors=4)
    lines = [line for line in result.outlines if "no-such-wsservice-binary" in line and "ServiceStartError" in line]
    assert lines, result.stdout.str()
    assert "not found" in lines[0]
    # One line per error, not a traceback from inside the plugin.
    result.stdout.no_fnmatch_line("*pytest_wsservice/process.py*")
    result.stdout.no_fnmatch_line("*Traceback*")


def test_missing_script_fails_at_once_with_perls_message(pytester, scaled, tmp_path):
    """A Perl script that does not exist: the failure gives perl's exit status and its own message."""
    pytester.makeini("[pytest]\n" + LOOP_SCOPE)
    write_user_suite(pytester, [])
    missing = tmp_path / "no_such_service.pl"
    result = pytester.runpytest_subprocess(
        f"--service-config={CONFIG}",
        f"--service-command=perl {missing}",
        "--service-start-timeout=600",
        timeout=scaled(60),
    )
    result.assert_outcomes(passed=0, errors=4)
    result.stdout.fnmatch_lines(["*ServiceStartError*", f"*Can't open perl script*{missing}*"])


def test_bad_config_line_of_the_perl_service_is_shown(pytester, scaled):
    """When the Perl service rejects its config (exit 2), the failure shows its one-line reason."""
    pytester.makeini("[pytest]\n" + LOOP_SCOPE)
    write_user_suite(pytester, [])
    config = pytester.path / "static_config.yaml"
    config.write_text(CONFIG.read_text().replace("      path: /chat\n", ""))
    assert "/chat" not in config.read_text()
    result = pytester.runpytest_subprocess(
        f"--service-config={config}",
        f"--service-command=perl {SCRIPT}",
        "--service-start-timeout=600",
        timeout=scaled(60),
    )
    result.assert_outcomes(passed=0, errors=4)
    result.stdout.fnmatch_lines(
        ["*ServiceStartError*", "*echo_service.pl: *missing key components_manager.components.websocket-handler.path*"]
    )


def test_perl_service_exits_0_on_sigterm_closing_websockets_with_1001(tmp_path, scaled):
    """Stopped with SIGTERM while a client is connected, the Perl service closes it with 1001 and exits 0."""
    import yaml
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from pytest_wsservice import ServiceProcess
    from pytest_wsservice.service.ports import free_port

    config = yaml.safe_load(CONFIG.read_text())
    port = free_port()
    config["components_manager"]["components"]["server"]["listener"]["port"] = port
    config_path = tmp_path / "static_config.yaml"
    config_path.write_text(yaml.safe_dump(config, default_flow_style=False))
    process = ServiceProcess.start(
        ["perl", str(SCRIPT), "--config", str(config_path)],
        log_path=tmp_path / "service.log",
        port=port,
        ping_path="/ping",
        timeout=scaled(30),
    )
    try:
        with connect(f"ws://127.0.0.1:{port}/chat", open_timeout=scaled(10)) as chat:
            chat.send("before the end")
            assert chat.recv(timeout=scaled(10)) == "before the end"
            result = process.stop(grace=scaled(5))
            with pytest.raises(ConnectionClosed) as closed:
                chat.recv(timeout=scaled(10))
    finally:
        process.kill()
    assert result.returncode == 0, process.log_tail()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert "perl_echo: stopping" in (tmp_path / "service.log").read_text()
