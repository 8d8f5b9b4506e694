"""--service-url: test a service that is already running; start nothing, still check readiness."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import sys
import time

import pytest
import yaml

from pytest_wsservice.service.config import MakePathsAbsolute, PatchListener, build_service_config, write_service_config
from pytest_wsservice.service.ports import free_port
from pytest_wsservice.service.process import ServiceProcess

USER_TESTS = """
import pytest

def grow(config, config_vars):
    pass

async def test_echo(websocket_client):
    async with websocket_client.get('chat') as chat:
        await chat.send('hello')
        assert await chat.recv() == 'hello'

async def test_ping(service_client, service_handle):
    import psutil
    response = await service_client.get('/ping')
    assert response.status == 200
    assert service_handle.pid is None and service_handle.log_path is None
    services = [p.pid for p in psutil.Process().children(recursive=True) if any('sample_service' in arg for arg in p.cmdline())]
    assert set(services) == {expected}  # only the ones already running: nothing was started

@pytest.mark.wsservice_config_hooks(grow, grow)
def test_needs_its_own_config(service_handle):
    pass
"""


@pytest.fixture
def running_service(tmp_path, sample_dir, scaled):
    """A sample service the test starts itself, as a container or staging would run it."""
    port = free_port()
    config = build_service_config(
        yaml.safe_load((sample_dir / "static_config.yaml").read_text()),
        {},
        [("paths", MakePathsAbsolute(sample_dir)), ("listener", PatchListener("127.0.0.1", port))],
    )
    path = write_service_config(config, tmp_path)
    command = [sys.executable, "-m", "sample_service", "--config", str(path)]
    with ServiceProcess.start(
        command, log_path=tmp_path / "running.log", port=port, ping_path="/ping", timeout=scaled(20)
    ) as service:
        yield service


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_service_url_tests_the_running_service(project, running_service, scheme):
    """With --service-url the tests talk to the running service, the plugin starts no process, and a marker test that
    needs its own config is skipped with the reason.
    """
    url = f"{scheme}://127.0.0.1:{running_service.handle.port}/"
    log = running_service.log_path
    before = log.read_text().count("connection opened")
    import psutil

    running = {
        p.pid for p in psutil.Process().children(recursive=True) if any("sample_service" in arg for arg in p.cmdline())
    }
    assert running_service.pid in running
    project.makepyfile(USER_TESTS.replace("{expected}", repr(running)))
    result = project.runpytest_inprocess("-p", "no:xdist", f"--service-url={url}", "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED * wsservice_config_hooks: --service-url tests a service that is already running, *"]
    )
    assert log.read_text().count("connection opened") == before + 1  # our echo reached it


def test_service_url_not_ready_fails_at_the_deadline(project, scaled):
    """With --service-url pointing where nothing answers, the tests fail at the start deadline saying what was probed."""
    port = free_port()
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    started = time.monotonic()
    result = project.runpytest_inprocess(
        "-p", "no:xdist", f"--service-url=http://127.0.0.1:{port}", "--service-start-timeout=0.5"
    )
    assert time.monotonic() - started < 0.5 + scaled(2)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"pytest_wsservice.errors.ServiceStartTimeout: The service at --service-url http://127.0.0.1:{port}/ was not "
            f"ready within 0.5 s; probed GET http://127.0.0.1:{port}/ping answering 2xx (last attempt: Connection refused)."
        ]
    )


def test_service_url_must_be_a_url(project):
    """A --service-url that is not an http(s) or ws(s) URL with a port fails with one line saying what it should be."""
    project.makepyfile("def test_it(service_handle):\n    pass\n")
    result = project.runpytest_inprocess("-p", "no:xdist", "--service-url=localhost")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_wsservice.errors.ServiceConfigError: --service-url is 'localhost'; it should be the URL of a running "
            "service, such as http://127.0.0.1:8080/ or ws://localhost:8080/."
        ]
    )
