"""Each ``to_server_*`` and ``to_client_*`` fault of TcpGate, against a real TCP echo server.

``to_server`` faults show in what the server receives; ``to_client`` faults in what the client
receives of the server's echo (the server's record proves the bytes did reach it).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pytest_wsservice.chaos import TcpGate
from tests.unit.chaos.servers import EchoServer

pytestmark = pytest.mark.asyncio

QUIET = 0.3  # seconds of silence that show bytes are held back (scaled)


async def test_pass_both_ways(gate, echo_server: EchoServer, connect, scaled):
    client = await connect()
    await client.send(b"hello")
    assert await client.read(5) == b"hello"
    assert echo_server.received == b"hello"
    gate.to_server_drop()
    gate.to_server_pass()
    gate.to_client_drop()
    gate.to_client_pass()
    await client.send(b"again")
    assert await client.read(5) == b"again"


async def test_to_server_noop_holds_bytes_until_pass(gate, echo_server, connect, scaled):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_server_noop()
    await client.send(b"held")
    await client.expect_silence(scaled(QUIET))
    assert echo_server.received == b""
    gate.to_server_pass()
    assert await client.read(4) == b"held"


async def test_to_client_noop_holds_bytes_until_pass(gate, echo_server, connect, scaled):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_noop()
    await client.send(b"held")
    echo_server.wait_received(4, scaled(5))
    await client.expect_silence(scaled(QUIET))
    gate.to_client_pass()
    assert await client.read(4) == b"held"


async def test_to_server_drop_discards(gate, echo_server, connect, scaled):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_server_drop()
    await client.send(b"lost")
    await client.expect_silence(scaled(QUIET))
    gate.to_server_pass()
    await client.send(b"kept")
    assert await client.read(4) == b"kept"
    assert echo_server.received == b"kept"


async def test_to_client_drop_discards(gate, echo_server, connect, scaled):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_drop()
    await client.send(b"lost")
    echo_server.wait_received(4, scaled(5))
    await client.expect_silence(scaled(QUIET))
    gate.to_client_pass()
    await client.send(b"kept")
    assert await client.read(4) == b"kept"


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_delay_is_latency(gate, connect, direction, scaled):
    client = await connect()
    await gate.wait_for_connections()
    getattr(gate, f"{direction}_delay")(0.5)
    started = time.monotonic()
    await client.send(b"a")
    await asyncio.sleep(0.2)  # part of the scenario: the second byte leaves 0.2 s after the first
    await client.send(b"b")
    assert await client.read(1) == b"a"
    first = time.monotonic()
    assert await client.read(1) == b"b"
    second = time.monotonic()
    assert first - started >= 0.5
    # Latency: "b" is 0.5 s late too, so it follows "a" by about 0.2 s, not by 0.5 s.
    assert second - first < 0.45 * max(1.0, scaled(1))


async def test_to_server_close_on_data(gate, echo_server, connect, scaled):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_server_close_on_data()
    await client.send(b"bye")
    assert await client.expect_eof() == b""
    echo_server.wait_closed(1, scaled(5))
    assert echo_server.received == b""
    assert gate.connections_count() == 0


async def test_to_client_close_on_data(gate, echo_server, connect, scaled):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_close_on_data()
    await client.send(b"bye")
    assert await client.expect_eof() == b""
    assert echo_server.wait_received(3, scaled(5)) == b"bye"


async def test_to_server_corrupt_data(gate, echo_server, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_server_corrupt_data()
    await client.send(b"\x00\x0f\xff")
    assert await client.read(3) == b"\xff\xf0\x00"
    assert echo_server.received == b"\xff\xf0\x00"


async def test_to_client_corrupt_data(gate, echo_server, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_corrupt_data()
    await client.send(b"\x00\x0f\xff")
    assert await client.read(3) == b"\xff\xf0\x00"
    assert echo_server.received == b"\x00\x0f\xff"


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_limit_bps(gate, echo_server, connect, direction):
    client = await connect()
    await gate.wait_for_connections()
    getattr(gate, f"{direction}_limit_bps")(2000)
    started = time.monotonic()
    await client.send(b"x" * 1000)
    assert await client.read(1000) == b"x" * 1000
    # 1000 bytes at 2000 bytes/s, no burst: the last piece leaves 0.45 s after the first.
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_limit_time_closes_after_first_bytes(gate, echo_server, connect, direction):
    client = await connect()
    await gate.wait_for_connections()
    getattr(gate, f"{direction}_limit_time")(0.3, 0.1)
    started = time.monotonic()
    await client.send(b"ping")
    assert await client.read(4) == b"ping"  # bytes pass until the time is up
    assert await client.expect_eof() == b""
    lived = time.monotonic() - started
    assert lived >= 0.3


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_smaller_parts(gate, echo_server, connect, direction):
    client = await connect()
    await gate.wait_for_connections()
    getattr(gate, f"{direction}_smaller_parts")(3, sleep_per_packet=0.1)
    started = time.monotonic()
    await client.send(b"abcdefghi")
    if direction == "to_server":
        # Three writes of 3 bytes, 0.1 s apart: the server reads them one by one.
        assert echo_server.wait_received(9, 5) == b"abcdefghi"
        assert [len(data) for _, data in echo_server.reads] == [3, 3, 3]
        assert await client.read(9) == b"abcdefghi"
    else:
        pieces = [await client.read(3) for _ in range(3)]
        assert pieces == [b"abc", b"def", b"ghi"]
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_concat_packets_holds_until_size(gate, echo_server, connect, direction, scaled):
    client = await connect()
    await gate.wait_for_connections()
    getattr(gate, f"{direction}_concat_packets")(10)
    await client.send(b"1234")
    await client.send(b"5678")
    await client.expect_silence(scaled(QUIET))
    await client.send(b"90ab")
    assert await client.read(12) == b"1234567890ab"
    if direction == "to_server":
        assert [data for _, data in echo_server.reads] == [b"1234567890ab"]


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
async def test_concat_packets_delivers_what_it_held_when_the_policy_changes(gate, connect, direction, scaled):
    client = await connect()
    await gate.wait_for_connections()
    getattr(gate, f"{direction}_concat_packets")(10)
    await client.send(b"1234")
    await client.expect_silence(scaled(QUIET))
    getattr(gate, f"{direction}_pass")()
    assert await client.read(4) == b"1234"


async def test_to_server_limit_bytes_closes_every_connection(gate, echo_server, connect, scaled):
    first, second = await connect(), await connect()
    await gate.wait_for_connections(count=2)
    gate.to_server_limit_bytes(5)
    await first.send(b"12345678")
    # The gate closes every connection right after the fifth byte left for the server; the
    # echo of those five may or may not make it back first.
    assert (await first.expect_eof()) in (b"", b"12345")
    assert await second.expect_eof() == b""
    echo_server.wait_closed(2, scaled(5))
    assert echo_server.received == b"12345"
    # The count starts again for new connections.
    third = await connect()
    await third.send(b"abc")
    assert await third.read(3) == b"abc"


async def test_to_client_limit_bytes(gate, echo_server, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_limit_bytes(5)
    await client.send(b"12345678")
    assert await client.expect_eof() == b"12345"
    assert echo_server.wait_received(8, 5) == b"12345678"


async def test_to_server_substitute(gate, echo_server, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_server_substitute(r"fo+", "bar")
    await client.send(b"a fooo b")
    assert await client.read(7) == b"a bar b"
    assert echo_server.received == b"a bar b"
    await client.send(b"\xff foo \x81")  # bytes that are not UTF-8 stay as they are
    assert await client.read(7) == b"\xff bar \x81"


async def test_to_client_substitute(gate, echo_server, connect):
    client = await connect()
    await gate.wait_for_connections()
    gate.to_client_substitute("secret", "******")
    await client.send(b"the secret")
    assert await client.read(10) == b"the ******"
    assert echo_server.received == b"the secret"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda g: g.to_server_delay(-1), "0 or more"),
        (lambda g: g.to_client_limit_bps(0), "above 0"),
        (lambda g: g.to_server_smaller_parts(0), "at least 1"),
        (lambda g: g.to_client_concat_packets(-1), "must not be negative"),
        (lambda g: g.to_server_limit_bytes(-5), "must not be negative"),
        (lambda g: g.to_client_limit_time(1, -1), "0 or more"),
    ],
)
async def test_bad_arguments_say_what_is_wrong(gate: TcpGate, call, message):
    with pytest.raises(ValueError, match=message):
        call(gate)
    assert "to_server pass, to_client pass" in gate.info()
