"""The sample driven as userver's functional-test WebSocket service is: what userver's tests check.

One inner pytest run starts the sample from a static config of the same shape as userver's
core functional-test config (written here, not copied): three WebSocket handlers
(``websocket-handler`` on /chat, ``websocket-handler-alt`` on /handler-alt,
``websocket-duplex-handler`` on /duplex), every one with ``fragment-size: 10`` and
``max-remote-payload: 100000``; ``tests-control`` on ``/tests/{action}`` with
``testpoint-url: $mockserver/testpoint``, a var nobody defines; and no ``handler-ping``, so
readiness cannot come from a ping. The inner tests are written as a userver user writes
them: no asyncio marker, ``websockets`` exceptions. It relies on the plugin leaving the
unresolved ``$mockserver/testpoint`` as written, and on the client taking a message in
thousands of fragments (``test_50000_bytes_in_5000_fragments``).
"""

from __future__ import annotations

import pytest

from tests.plugin.plugin_helpers import BASE_INI

#: The static config: userver's core functional-test layout, in our own words.
USERVER_SHAPED_CONFIG = """\
components_manager:
  task_processors:
    main-task-processor:
      worker_threads: 2
    fs-task-processor:
      worker_threads: 2
  default_task_processor: main-task-processor
  components:
    server:
      listener:
        port: 8080
        task_processor: main-task-processor
    logging:
      fs-task-processor: fs-task-processor
      loggers:
        default:
          file_path: '@stderr'
          level: debug
          overflow_behavior: discard
    websocket-handler:
      path: /chat
      method: GET
      task_processor: main-task-processor
      max-remote-payload: 100000
      fragment-size: 10
    websocket-handler-alt:
      path: /handler-alt
      method: GET
      task_processor: main-task-processor
      max-remote-payload: 100000
      fragment-size: 10
    websocket-duplex-handler:
      path: /duplex
      method: GET
      task_processor: main-task-processor
      max-remote-payload: 100000
      fragment-size: 10
    testsuite-support:
    tests-control:
      method: POST
      path: /tests/{action}
      skip-unregistered-testpoints: true
      task_processor: main-task-processor
      testpoint-timeout: 10s
      testpoint-url: $mockserver/testpoint
      throttling_enabled: false
"""

INNER_TESTS = r"""
import asyncio

import pytest
import websockets.exceptions


async def test_echo(websocket_client):
    async with websocket_client.get('chat') as chat:
        await chat.send('hello')
        assert await chat.recv() == 'hello'


async def test_close_by_server_is_1001(websocket_client):
    async with websocket_client.get('chat') as chat:
        await chat.send('close')
        with pytest.raises(websockets.exceptions.ConnectionClosedOK) as closed:
            await chat.recv()
    assert closed.value.rcvd.code == 1001


async def test_ping_is_answered_and_echo_goes_on(websocket_client):
    async with websocket_client.get('chat') as chat:
        pong = await chat.ping(data='are you there')
        await asyncio.wait_for(pong, 5)
        await chat.send('after the ping')
        assert await chat.recv() == 'after the ping'


async def test_200_bytes_in_20_fragments(websocket_client):
    async with websocket_client.get('chat') as chat:
        message = 'z' * 199 + '!'
        await chat.send(message)
        assert await chat.recv() == message


async def test_50000_bytes_in_5000_fragments(websocket_client):
    async with websocket_client.get('chat') as chat:
        message = ''.join(chr(ord('a') + n % 26) for n in range(50_000))
        await chat.send(message)
        assert await chat.recv() == message


async def test_1000_messages_one_after_another(websocket_client):
    async with websocket_client.get('chat') as chat:
        for number in range(1000):
            await chat.send(f'#{number}')
            assert await chat.recv() == f'#{number}'


async def test_too_big_closes_with_1009(websocket_client):
    async with websocket_client.get('chat') as chat:
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await chat.send('y' * 100_001)
            await chat.recv()
    assert closed.value.rcvd.code == 1009


async def test_alt_handler_echoes_text(websocket_client):
    async with websocket_client.get('handler-alt') as chat:
        await chat.send('to the alt')
        assert await chat.recv() == 'to the alt'


async def test_duplex_answers_in_binary(websocket_client):
    async with websocket_client.get('duplex') as chat:
        await chat.send('text in')
        assert await chat.recv() == b'text in'
        await chat.send(b'\x00bytes in')
        assert await chat.recv() == b'\x00bytes in'


@pytest.mark.parametrize('path, reply', [('duplex', lambda s: s.encode()), ('handler-alt', lambda s: s)])
async def test_two_clients_interleaved(websocket_client, path, reply):
    async with websocket_client.get(path) as first, websocket_client.get(path) as second:
        for number in range(10):
            await first.send(f'first {number}')
            await second.send(f'second {number}')
        for number in range(10):
            assert await second.recv() == reply(f'second {number}')
        for number in range(10):
            assert await first.recv() == reply(f'first {number}')


async def test_no_ping_handler_and_tests_control_on_tests_action(service_client, dynamic_config, websocket_client):
    assert (await service_client.get('/ping')).status_code == 404
    dynamic_config.set_values({'WEBSOCKET_ECHO_PREFIX': 'via /tests/control: '})
    async with websocket_client.get('chat') as chat:
        await chat.send('x')
        assert await chat.recv() == 'via /tests/control: x'
"""


def test_userver_shaped_config_passes_what_userver_checks(pytester: pytest.Pytester) -> None:
    """The sample, started from a userver-shaped config without a ping handler, passes echo, server close (1001),
    ping, 200 and 50,000 bytes in 10-byte fragments, 1000 messages, too big (1009), duplex binary replies and two
    interleaved clients on /duplex and /handler-alt; tests-control answers on /tests/{action}.
    """
    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    config = pytester.path / "service" / "static_config.yaml"
    config.parent.mkdir()
    config.write_text(USERVER_SHAPED_CONFIG)
    pytester.makepyfile(test_userver_shape=INNER_TESTS)
    result = pytester.runpytest_inprocess(f"--service-config={config}", "-v", "-p", "no:randomly")
    result.assert_outcomes(passed=12)
