"""The mockserver and testpoints against the real sample service, under default and session loops.

Each inner run starts the bundled sample service with the user's config hook, which points
``/private``'s auth and ``/feed``'s upstream at the mockserver; the plugin turns
tests-control on and points its testpoint URL at the mockserver.
"""

from __future__ import annotations

import pytest

CONFTEST = """
import pytest

pytest_plugins = ['pytest_wsservice']

WSSERVICE_CONFIG_HOOKS = ['upstreams_at_the_mockserver']


@pytest.fixture(scope='session')
def upstreams_at_the_mockserver(mockserver_info):
    def hook(config, config_vars):
        config_vars['auth_url'] = mockserver_info.url('/auth')
        config_vars['feed_upstream_url'] = mockserver_info.url('/feed-upstream')

    return hook
"""

SERVICE_TESTS = """
import asyncio

import pytest

from pytest_wsservice import WebSocketHandshakeError


async def test_private_accepts_the_user_the_auth_mock_names(websocket_client, mockserver):
    @mockserver.json_handler('/auth')
    def auth(request):
        return {'user': 'ann'}

    async with websocket_client.get('private?token=t1') as chat:
        await chat.send('hello')
        assert await chat.recv() == 'ann: hello'
    assert auth.next_call()['request'].json == {'token': 't1'}
    assert not auth.has_calls


async def test_private_rejects_what_the_auth_mock_refuses(websocket_client, mockserver):
    @mockserver.json_handler('/auth')
    async def auth(request):
        return mockserver.make_response(status=401)

    with pytest.raises(WebSocketHandshakeError) as rejected:
        await websocket_client.get('private', headers={'Authorization': 'Bearer t2'})
    assert rejected.value.status == 403
    assert (await auth.wait_call())['request'].json == {'token': 't2'}


async def test_two_feed_clients_get_two_upstream_connections(websocket_client, mockserver):
    upstream = mockserver.websocket('/feed-upstream')
    async with websocket_client.get('feed') as first, websocket_client.get('feed') as second:
        one = await upstream.wait_connection()
        two = await upstream.wait_connection()
        await first.send('from first')
        await second.send(b'from second')
        got = {await one.recv(), await two.recv()}
        assert got == {'from first', b'from second'}
        await one.send('down one')
        await two.send('down two')
        assert {await first.recv(), await second.recv()} == {'down one', 'down two'}
        first_conn = one if 'from first' == (one.frames[0].data) else two
        await first_conn.close(1000)
        await first.wait_closed()
        assert first.close_code == 1001
    assert upstream.times_connected == 2


async def test_the_testpoint_sees_each_message(websocket_client, testpoint):
    @testpoint('chat-message-received')
    def received(data):
        return None

    async with websocket_client.get('chat') as chat:
        await chat.send('hello')
        assert await chat.recv() == 'hello'
        await chat.send(b'\\x01\\x02')
        assert await chat.recv() == b'\\x01\\x02'
    assert (await received.wait_call())['data'] == {'path': '/chat', 'type': 'text', 'size': 5, 'text': 'hello'}
    assert (await received.wait_call())['data'] == {'path': '/chat', 'type': 'binary', 'size': 2}


async def test_the_testpoint_answer_closes_the_connection(websocket_client, testpoint):
    @testpoint('chat-message-received')
    async def received(data):
        return {'close': 4000} if data.get('text') == 'bye' else None

    async with websocket_client.get('chat') as chat:
        await chat.send('hi')
        assert await chat.recv() == 'hi'
        await chat.send('bye')
        await chat.wait_closed()
        assert chat.close_code == 4000
    assert received.times_called == 2


async def test_an_http_request_syncs_the_testpoints_too(service_client, testpoint):
    import websockets

    @testpoint('chat-message-received')
    def received(data):
        return None

    assert (await service_client.get('/ping')).status == 200  # sends the names
    url = service_client.url_for('chat').replace('http://', 'ws://', 1)
    async with websockets.connect(url) as raw:  # not through websocket_client: no sync here
        await raw.send('raw')
        assert await raw.recv() == 'raw'
    assert (await received.wait_call())['data']['text'] == 'raw'


async def test_testpoints_are_off_again_in_the_next_test(websocket_client, mockserver):
    async with websocket_client.get('chat') as chat:
        await chat.send('quiet')
        assert await chat.recv() == 'quiet'
    assert not any('testpoint' in line for line in mockserver.request_log())
"""

FAILING_TEST = """
import pytest

from pytest_wsservice import WebSocketHandshakeError


async def test_forgot_the_auth_handler(websocket_client, mockserver):
    with pytest.raises(WebSocketHandshakeError) as rejected:
        await websocket_client.get('private?token=t3')
    assert rejected.value.status == 503
"""


@pytest.fixture
def service_project(project):
    project.makeconftest(CONFTEST)
    return project


@pytest.mark.parametrize("loop_scope", ["function", "session"])
def test_against_the_sample_service(service_project, loop_scope):
    service_project.makepyfile(test_service=SERVICE_TESTS, test_unhandled=FAILING_TEST)
    result = service_project.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-o",
        f"asyncio_default_test_loop_scope={loop_scope}",
        "-o",
        f"asyncio_default_fixture_loop_scope={loop_scope}",
    )
    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        ["*POST /auth: no handler*", "*FAILED test_unhandled.py::test_forgot_the_auth_handler*"]
    )


def test_the_config_points_testpoints_at_the_mockserver_only_when_used(service_project):
    service_project.makepyfile(
        test_config="""
        def test_config(service_config, mockserver_info):
            section = service_config['components_manager']['components']['tests-control']
            assert section['testpoint-url'] == mockserver_info.url('/testpoint')
            assert section['skip-unregistered-testpoints'] is True
        """
    )
    service_project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_run_without_the_mockserver_leaves_the_config_alone(project):
    project.makepyfile(
        test_config="""
        import threading

        def test_config(service_config):
            section = service_config['components_manager']['components']['tests-control']
            assert section['load-enabled'] is True and 'testpoint-url' not in section
            assert not [t for t in threading.enumerate() if t.name == 'wsservice-mockserver']
        """
    )
    project.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_testpoints_without_tests_control_fail_with_one_paragraph(project):
    project.makeconftest(
        """
        pytest_plugins = ['pytest_wsservice']

        def no_tests_control(config, config_vars):
            del config['components_manager']['components']['tests-control']

        WSSERVICE_CONFIG_HOOKS = [no_tests_control]
        """
    )
    project.makepyfile(
        test_no_control="""
        async def test_it(websocket_client, testpoint):
            @testpoint('chat-message-received')
            def received(data):
                pass

            async with websocket_client.get('chat') as chat:
                await chat.send('x')
        """
    )
    result = project.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["ServiceControlError: enabling testpoints ?'chat-message-received'? needs the service's tests-control*"]
    )
    assert "Traceback" not in result.stdout.str() and "tests_control.py" not in result.stdout.str()
