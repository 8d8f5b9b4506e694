"""The echo paths besides /chat (websocket-handler-alt, websocket-duplex-handler), the 'close' message,
the chat page (handler-chat-page), and the bundled config with its optional components."""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sample_service.config import DEFAULT_CONFIG_PATH
from sample_service.page import render_page
from tests.sample_service.handler_helpers import ALL_HANDLERS, FakeAuth, ThreadedServer, running_sample
from tests.sample_service.sample_helpers import (
    START_TIMEOUT,
    RawWebSocket,
    SampleProcess,
    free_port,
    http_get,
    start_sample,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory, scaled) -> Iterator[SampleProcess]:
    """Every optional component, /broadcast, and no upstream URLs."""
    with running_sample(tmp_path_factory.mktemp("echo-paths"), ALL_HANDLERS, scaled, broadcast=True) as sample:
        yield sample


def ws_connect(service: SampleProcess, path: str, scaled):
    return connect(f"ws://127.0.0.1:{service.port}{path}", open_timeout=scaled(10), close_timeout=scaled(5))


async def closed_with(ws, scaled) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), scaled(5))
    assert closed.value.rcvd is not None, "the service closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/chat", "/handler-alt", "/duplex"])
async def test_close_message_closes_with_1001(service, scaled, path):
    """The text message 'close' makes the service close with 1001 on every echo path."""
    async with ws_connect(service, path, scaled) as ws:
        await ws.send("close")
        assert await closed_with(ws, scaled) == (1001, "close requested")


@pytest.mark.parametrize("path", ["/chat", "/handler-alt"])
@pytest.mark.asyncio
async def test_close_as_binary_or_with_more_text_is_echoed(service, scaled, path):
    """Only the exact text 'close' closes: binary b'close' and 'close ' come back."""
    async with ws_connect(service, path, scaled) as ws:
        for message in (b"close", "close ", "Close"):
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == message


@pytest.mark.asyncio
async def test_alt_is_a_plain_echo(service, scaled):
    """/handler-alt echoes text as text and binary as binary, in order, and echoes the client's close code."""
    sent = [f"t{i}" if i % 2 else bytes([i]) for i in range(30)]
    async with ws_connect(service, "/handler-alt", scaled) as ws:
        for message in sent:
            await ws.send(message)
        assert [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in sent] == sent
        await ws.close(4003)
    assert ws.close_code == 4003


@pytest.mark.asyncio
async def test_duplex_replies_are_binary_in_order(service, scaled):
    """/duplex answers every message, text or binary, as a binary message, in order."""
    sent = [f"text {i}" if i % 2 else f"bin {i}".encode() for i in range(100)]
    async with ws_connect(service, "/duplex", scaled) as ws:
        for message in sent:
            await ws.send(message)
        replies = [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in sent]
    assert replies == [m.encode() if isinstance(m, str) else m for m in sent]


@pytest.mark.asyncio
async def test_duplex_close_sends_what_is_queued_first(service, scaled):
    """'close' on /duplex: the replies to the messages before it still arrive, then the close with 1001."""
    async with ws_connect(service, "/duplex", scaled) as ws:
        for message in ("a", "b", "c", "close", "after"):
            await ws.send(message)
        assert [await asyncio.wait_for(ws.recv(), scaled(5)) for _ in range(3)] == [b"a", b"b", b"c"]
        assert await closed_with(ws, scaled) == (1001, "close requested")


@pytest.mark.asyncio
async def test_duplex_echoes_the_client_close_code(service, scaled):
    """A client's close on /duplex gets its own valid code back, as on /chat."""
    async with ws_connect(service, "/duplex", scaled) as ws:
        await ws.send("x")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == b"x"
        await ws.close(4004)
    assert ws.close_code == 4004


def test_duplex_fragments_long_replies(service, scaled):
    """A reply longer than fragment-size (1000 here) goes out as binary frames of at most 1000 bytes."""
    raw = RawWebSocket(service.port, scaled(5))
    try:
        assert raw.handshake("/duplex")[0] == 101
        raw.send(0x1, b"x" * 2500)
        frames = [raw.recv_frame()]
        while not frames[-1][0]:
            frames.append(raw.recv_frame())
        assert [(fin, opcode, len(payload)) for fin, _, opcode, payload in frames] == [
            (False, 0x2, 1000),
            (False, 0x0, 1000),
            (True, 0x0, 500),
        ]
        raw.send(0x8, struct.pack("!H", 1000))
        assert raw.recv_close() == 1000
    finally:
        raw.close()


def test_chat_page(service, scaled):
    """GET / serves the self-contained chat page: HTML, a strict CSP, both rooms, no external asset."""
    status, headers, body = http_get(service.port, "/", scaled(5))
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    page = body.decode()
    assert '<option value="/chat" data-user="no">' in page
    assert '<option value="/broadcast" data-user="yes">' in page
    assert "location.host" in page and "textContent" in page
    assert "innerHTML" not in page and "src=" not in page and "href=" not in page and "//cdn" not in page


def test_chat_page_escapes_paths():
    """Paths go into the page HTML-escaped."""
    page = render_page([('room "<b>"', '/x"<script>', True)])
    assert "<script>" not in page.split("<script>", 1)[0] or '"<script>' not in page
    assert "/x&quot;&lt;script&gt;" in page and "room &quot;&lt;b&gt;&quot;" in page


def test_components_are_served_only_when_named(spawn_sample, scaled):
    """Without the optional components, their paths are 404 (and GET / too)."""
    sample = spawn_sample()
    for path in ("/", "/handler-alt", "/duplex", "/private", "/feed"):
        assert http_get(sample.port, path, scaled(5))[0] == 404, path


def bundled_copy(directory: Path, port: int) -> Path:
    """The bundled static config, copied with its fallback JSON, on ``port`` and logging to a file."""
    shutil.copy(DEFAULT_CONFIG_PATH.parent / "dynamic_config_fallback.json", directory)
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    components = config["components_manager"]["components"]
    components["server"]["listener"]["port"] = port
    components["logging"]["loggers"]["default"]["file_path"] = str(directory / "service.log")
    path = directory / "static_config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.asyncio
async def test_bundled_config_serves_everything_and_waits_for_urls(tmp_path, scaled):
    """The bundled config starts with its URLs unset: /private answers 503, /feed closes with 1011,
    and the other components work."""
    port = free_port()
    sample = start_sample(bundled_copy(tmp_path, port), port, tmp_path / "service.log", scaled(START_TIMEOUT))
    try:
        with pytest.raises(InvalidStatus) as caught:
            async with ws_connect(sample, "/private?token=t", scaled):
                pass
        assert caught.value.response.status_code == 503
        assert b"auth-url is not configured" in caught.value.response.body
        async with ws_connect(sample, "/feed", scaled) as ws:
            assert await closed_with(ws, scaled) == (1011, "upstream-url is not configured")
        async with ws_connect(sample, "/handler-alt", scaled) as ws:
            await ws.send("alt")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == "alt"
        async with ws_connect(sample, "/duplex", scaled) as ws:
            await ws.send("duplex")
            assert await asyncio.wait_for(ws.recv(), scaled(5)) == b"duplex"
        assert http_get(port, "/", scaled(5))[0] == 200
    finally:
        assert sample.stop(scaled(10)) == 0


@pytest.mark.asyncio
async def test_bundled_config_takes_auth_url_from_config_vars(tmp_path, scaled):
    """--config-vars defining auth_url turns /private on in the bundled config."""
    fake = FakeAuth()
    with ThreadedServer(fake.app, scaled(10)) as server:
        port = free_port()
        vars_path = tmp_path / "vars.yaml"
        vars_path.write_text(yaml.safe_dump({"auth_url": server.url("/auth")}))
        sample = start_sample(
            bundled_copy(tmp_path, port),
            port,
            tmp_path / "service.log",
            scaled(START_TIMEOUT),
            extra_args=("--config-vars", str(vars_path)),
        )
        try:
            async with ws_connect(sample, "/private?token=t", scaled) as ws:
                await ws.send("hi")
                assert await asyncio.wait_for(ws.recv(), scaled(5)) == "alice: hi"
        finally:
            assert sample.stop(scaled(10)) == 0
