"""Generate the same WebSocket echo suite written three ways (benchmark 1).

- ``wsservice``: pytest_wsservice, as its tutorial shows it (``websocket_client``).
- ``handwritten``: a ~15-line session fixture: Popen, poll ``/ping``, raw ``websockets.connect``.
- ``testsuite``: yandex-taxi-testsuite's daemon fixtures (``create_daemon_scope`` +
  ``ensure_daemon_started``) with the same raw client, in its own directory because it
  forces asyncio auto mode with a session loop.

Every test does the same thing: connect to ``/chat``, send one text, receive it, close.
Each suite lives in its own temp directory with its own ``pytest.ini``, so nothing of this
repository (its conftest, its ini) leaks into the run.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from .common import child_env, has_module, sample_config_path

KINDS = ("wsservice", "handwritten", "testsuite")
#: Suites without a service, for benchmark 3's breakdown of the per-test cost: pytest's own
#: cost of a test, and that of an async test in pytest-asyncio's event loop per test.
FLOORS = ("floor-sync", "floor-async")
LABELS = {
    "wsservice": "(a) pytest_wsservice",
    "handwritten": "(b) hand-written fixture",
    "testsuite": "(c) yandex-taxi-testsuite",
    "floor-sync": "pytest, empty sync test",
    "floor-async": "pytest-asyncio, empty async test",
}
#: Tests per module: a real suite spreads its tests over files.
TESTS_PER_MODULE = 50


@dataclass
class Suite:
    kind: str
    n_tests: int
    path: Path
    args: tuple[str, ...]
    env: dict[str, str]


# The config patch that the hand-written and the testsuite harness share: a free port, the
# log in a file (as the plugin does by default), and the one relative path made absolute.
_PATCH_CONFIG = '''
def write_config(directory, port):
    """Write the bundled static config with our port and log file; return its path."""
    with open(BASE_CONFIG) as f:
        config = yaml.safe_load(f)
    components = config["components_manager"]["components"]
    components["server"]["listener"]["port"] = port
    components["logging"]["loggers"]["default"]["file_path"] = str(directory / "service.log")
    for component in components.values():  # relative paths are relative to the original
        for key, value in list((component or {}).items()):
            if isinstance(value, str) and key.endswith(("-path", "_path")) and not value.startswith("@"):
                component[key] = os.path.join(os.path.dirname(BASE_CONFIG), value)
    path = directory / "static_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
'''

_HANDWRITTEN_CONFTEST = '''\
"""A minimal hand-written harness: the floor that any real harness is compared with."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

BASE_CONFIG = {base_config!r}
{patch_config}

@pytest.fixture(scope="session")
def chat_url(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_config(tmp_path_factory.mktemp("service"), port)
    proc = subprocess.Popen([sys.executable, "-m", "sample_service", "-c", str(config)])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    deadline = time.monotonic() + 30
    while True:
        try:
            opener.open(f"http://127.0.0.1:{{port}}/ping", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "service did not start"
            time.sleep(0.01)
    yield f"ws://127.0.0.1:{{port}}/chat"
    proc.terminate()
    proc.wait(timeout=10)
'''

_TESTSUITE_CONFTEST = '''\
"""The sample service under yandex-taxi-testsuite's daemon fixtures, as its docs show them."""
import os
import socket
import sys

import pytest
import yaml

pytest_plugins = ["testsuite.pytest_plugin"]

BASE_CONFIG = {base_config!r}
{patch_config}

@pytest.fixture(scope="session")
def service_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
async def sample_service_scope(create_daemon_scope, tmp_path_factory, service_port):
    config = write_config(tmp_path_factory.mktemp("service"), service_port)
    async with create_daemon_scope(
        args=[sys.executable, "-m", "sample_service", "-c", str(config)],
        ping_url=f"http://127.0.0.1:{{service_port}}/ping",
    ) as scope:
        yield scope


@pytest.fixture
async def chat_url(ensure_daemon_started, sample_service_scope, service_port):
    await ensure_daemon_started(sample_service_scope)
    return f"ws://127.0.0.1:{{service_port}}/chat"
'''

_WSSERVICE_CONFTEST = """\
pytest_plugins = ["pytest_wsservice"]
"""

_RAW_TEST = """
async def test_echo_{i:05d}(chat_url):
    async with websockets.connect(chat_url, compression=None) as chat:
        await chat.send("hello {i}")
        assert await chat.recv() == "hello {i}"
"""

_WSSERVICE_TEST = """
async def test_echo_{i:05d}(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("hello {i}")
        assert await chat.recv() == "hello {i}"
"""

_FLOOR_SYNC_TEST = """
def test_nothing_{i:05d}():
    assert "hello {i}"
"""

_FLOOR_ASYNC_TEST = """
async def test_nothing_{i:05d}():
    await asyncio.sleep(0)
"""

_BODIES = {
    "wsservice": _WSSERVICE_TEST,
    "handwritten": _RAW_TEST,
    "testsuite": _RAW_TEST,
    "floor-sync": _FLOOR_SYNC_TEST,
    "floor-async": _FLOOR_ASYNC_TEST,
}

_HEADERS = {
    "wsservice": "",
    # Strict mode (pytest-asyncio's default) needs the marker; the plugin adds it itself.
    "handwritten": "import pytest\nimport websockets\n\npytestmark = pytest.mark.asyncio\n",
    # testsuite forces auto mode.
    "testsuite": "import websockets\n",
    "floor-sync": "",
    "floor-async": "import asyncio\n\nimport pytest\n\npytestmark = pytest.mark.asyncio\n",
}

_INI = {
    "wsservice": "[pytest]\nasyncio_default_fixture_loop_scope = function\n",
    "handwritten": "[pytest]\nasyncio_default_fixture_loop_scope = function\n",
    "testsuite": "[pytest]\n",
    "floor-sync": "[pytest]\nasyncio_default_fixture_loop_scope = function\n",
    "floor-async": "[pytest]\nasyncio_default_fixture_loop_scope = function\n",
}


def pytest_args(kind: str) -> tuple[str, ...]:
    """Plugins that a user of this harness would not have are blocked, so each pays only its own."""
    args: list[str] = []
    if kind != "testsuite" and has_module("pytest_aiohttp"):
        args += ["-p", "no:aiohttp"]  # pulled in by testsuite, not by the other two
    if kind != "wsservice":
        args += ["-p", "no:pytest_wsservice"]
    return tuple(args)


def suite_env(kind: str) -> dict[str, str]:
    if kind == "testsuite":
        return child_env(TESTSUITE_ALLOW_ROOT="1")
    return child_env()


def write_suite(kind: str, n_tests: int, directory: Path) -> Suite:
    """Write suite ``kind`` with ``n_tests`` echo tests into ``directory`` (created)."""
    if kind not in _BODIES:
        raise ValueError(f"unknown suite kind {kind!r}; expected one of {KINDS + FLOORS}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text(_INI[kind])
    if kind == "wsservice":
        (directory / "conftest.py").write_text(_WSSERVICE_CONFTEST)
    elif kind in ("handwritten", "testsuite"):
        template = _HANDWRITTEN_CONFTEST if kind == "handwritten" else _TESTSUITE_CONFTEST
        conftest = template.format(base_config=str(sample_config_path()), patch_config=_PATCH_CONFIG)
        (directory / "conftest.py").write_text(conftest)
    body = _BODIES[kind]
    for first in range(0, n_tests, TESTS_PER_MODULE):
        last = min(first + TESTS_PER_MODULE, n_tests)
        text = _HEADERS[kind] + "".join(body.format(i=i) for i in range(first, last))
        (directory / f"test_echo_{first // TESTS_PER_MODULE:03d}.py").write_text(text)
    return Suite(kind, n_tests, directory, pytest_args(kind), suite_env(kind))


def write_trivial_suite(n_tests: int, directory: Path) -> Path:
    """A suite that uses none of our fixtures, for the import-cost benchmark."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\n")
    tests = "".join(f"\ndef test_nothing_{i:05d}():\n    assert {i} == {i}\n" for i in range(n_tests))
    (directory / "test_trivial.py").write_text(textwrap.dedent(tests))
    return directory
