"""The mockserver fixtures as a user's suite meets them (pytester runs; no service needed)."""

from __future__ import annotations

import pytest

HELPERS = """
import aiohttp


async def post(url, **kwargs):
    async with aiohttp.ClientSession() as client, client.post(url, **kwargs) as response:
        return response.status, await response.read()
"""


@pytest.fixture
def mock_project(project):
    project.makepyfile(mock_helpers=HELPERS)
    project.syspathinsert()
    return project


def test_mockserver_info_is_one_loopback_server_per_session(mock_project):
    mock_project.makepyfile(
        test_info="""
        PORTS = []

        def test_first(mockserver_info):
            assert mockserver_info.host == '127.0.0.1'
            assert mockserver_info.base_url == f'http://127.0.0.1:{mockserver_info.port}/'
            assert mockserver_info.url('/auth') == f'http://127.0.0.1:{mockserver_info.port}/auth'
            PORTS.append(mockserver_info.port)

        def test_second(mockserver_info, mockserver):
            assert mockserver_info.port == PORTS[0]
            assert mockserver.url('auth') == mockserver_info.url('/auth')
            assert mockserver.base_url == mockserver_info.base_url
        """
    )
    mock_project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_an_unhandled_request_fails_its_test_with_method_and_path(mock_project):
    mock_project.makepyfile(
        test_unhandled="""
        import pytest
        from mock_helpers import post

        @pytest.mark.asyncio
        async def test_forgot_a_handler(mockserver):
            status, body = await post(mockserver.url('/auth'), json={'token': 't'})
            assert status == 500

        @pytest.mark.asyncio
        async def test_handled(mockserver):
            @mockserver.json_handler('/auth')
            def auth(request):
                return {'user': 'ann'}

            assert await post(mockserver.url('/auth'), json={}) == (200, b'{"user": "ann"}')
        """
    )
    result = mock_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*FAILED test_unhandled.py::test_forgot_a_handler*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*the mockserver answered 1 request(s) with 500 during this test:*", "*POST /auth: no handler*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_request_after_the_test_body_fails_it_at_teardown(mock_project):
    mock_project.makepyfile(
        test_late="""
        import asyncio
        import pytest
        import urllib.request

        @pytest.fixture
        def late_request(mockserver):
            yield
            try:
                urllib.request.urlopen(urllib.request.Request(mockserver.url('/late'), method='DELETE'), timeout=10)
            except Exception:
                pass

        def test_it(late_request):
            pass
        """
    )
    result = mock_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_it*", "*DELETE /late: no handler*"])


def test_handlers_do_not_leak_into_the_next_test(mock_project):
    mock_project.makepyfile(
        test_leak="""
        import pytest
        from mock_helpers import post

        @pytest.mark.asyncio
        async def test_registers(mockserver):
            @mockserver.json_handler('/auth')
            def auth(request):
                return {}
            @mockserver.testpoint('tp')
            def tp(data):
                return 1
            assert (await post(mockserver.url('/auth')))[0] == 200

        @pytest.mark.asyncio
        async def test_sees_nothing(mockserver, testpoint):
            assert testpoint.enabled_names() == [] and len(testpoint) == 0
            assert await post(mockserver.url('/testpoint'), json={'name': 'tp', 'data': None}) == (
                200, b'{"data": null, "handled": false}')
            assert (await post(mockserver.url('/auth')))[0] == 500
        """
    )
    result = mock_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*POST /auth: no handler*", "*FAILED test_leak.py::test_sees_nothing*"])


LOOP_SCOPES_TEST = """
import asyncio
import pytest
import websockets
from mock_helpers import post


async def exercise(mockserver):
    @mockserver.json_handler('/auth')
    async def auth(request):
        return {'user': request.json['token']}

    upstream = mockserver.websocket('/up')
    waiter = asyncio.ensure_future(auth.wait_call())
    assert await post(mockserver.url('/auth'), json={'token': 'ann'}) == (200, b'{"user": "ann"}')
    assert (await waiter)['request'].json == {'token': 'ann'}
    async with websockets.connect(mockserver.url('/up').replace('http', 'ws', 1)) as client:
        conn = await upstream.wait_connection()
        await client.send('hi')
        assert await conn.recv() == 'hi'
        await conn.send('back')
        assert await client.recv() == 'back'


@pytest.mark.asyncio(loop_scope='module')
class TestModuleLoop:
    async def test_one(self, mockserver):
        await exercise(mockserver)

    async def test_two(self, mockserver):
        await exercise(mockserver)


@pytest.mark.asyncio(loop_scope='session')
async def test_session_loop(mockserver):
    await exercise(mockserver)


@pytest.mark.asyncio
async def test_function_loop(mockserver):
    await exercise(mockserver)
"""


def test_every_loop_scope(mock_project):
    mock_project.makepyfile(test_loops=LOOP_SCOPES_TEST)
    mock_project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_a_failed_test_shows_its_upstream_frames(mock_project):
    mock_project.makepyfile(
        test_record="""
        import pytest
        import websockets

        @pytest.mark.asyncio
        async def test_fails(mockserver):
            upstream = mockserver.websocket('/up')
            async with websockets.connect(mockserver.url('/up').replace('http', 'ws', 1)) as client:
                conn = await upstream.wait_connection()
                await client.send('hello upstream')
                assert await conn.recv() == 'hello upstream'
                await conn.send(b'binary answer')
                await client.recv()
            assert False, 'the test failed'
        """
    )
    result = mock_project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mockserver call*",
            "*GET /up → WebSocket upstream /up #1*",
            "upstream /up #1: opened *, closed by the service with code 1000, 3 frame(s)",
            "*service → mock  text   'hello upstream'",
            "*mock → service  binary b'binary answer'",
            "*service → mock  close  code 1000",
        ]
    )


def test_a_run_that_does_not_use_it_starts_nothing(mock_project):
    mock_project.makepyfile(
        test_lazy="""
        import sys
        import threading

        def test_no_mockserver():
            assert 'pytest_wsservice.mockserver' not in sys.modules
            assert not [t for t in threading.enumerate() if t.name == 'wsservice-mockserver']
        """
    )
    mock_project.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_mockserver_stops_with_the_session(mock_project):
    mock_project.makeconftest(
        """
        import threading
        pytest_plugins = ['pytest_wsservice']

        def pytest_unconfigure(config):
            alive = [t for t in threading.enumerate() if t.name == 'wsservice-mockserver']
            with open('threads.txt', 'w') as f:
                f.write(str(len(alive)))
        """
    )
    mock_project.makepyfile(test_uses="def test_it(mockserver_info):\n    assert mockserver_info.port\n")
    mock_project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert (mock_project.path / "threads.txt").read_text() == "0"


def test_each_xdist_worker_has_its_own_mockserver(mock_project):
    mock_project.makepyfile(
        test_workers="""
        import os
        import pytest
        from mock_helpers import post

        @pytest.mark.parametrize('n', range(4))
        @pytest.mark.asyncio
        async def test_it(mockserver, mockserver_info, n):
            @mockserver.json_handler('/who')
            def who(request):
                return os.environ.get('PYTEST_XDIST_WORKER', 'none')

            status, body = await post(mockserver_info.url('/who'))
            assert (status, body.decode()) == (200, '"%s"' % os.environ['PYTEST_XDIST_WORKER'])
            with open(f"port-{os.environ['PYTEST_XDIST_WORKER']}", 'w') as f:
                f.write(str(mockserver_info.port))
        """
    )
    mock_project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2").assert_outcomes(passed=4)
    ports = {path.read_text() for path in mock_project.path.glob("port-gw*")}
    assert len(ports) == 2
