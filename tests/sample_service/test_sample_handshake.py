"""The opening handshake on /chat: bad ones get clear HTTP errors and never hurt the service."""

from __future__ import annotations

import socket

import pytest

GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def assert_service_still_echoes(raw_ws, port):
    conn = raw_ws(port)
    conn.send(0x1, b"still alive")
    assert conn.recv_message() == (0x1, b"still alive")


def test_good_handshake_gets_101_with_accept(sample_service, raw_ws):
    """A correct handshake gets 101 with the Sec-WebSocket-Accept computed from the key (RFC 6455 example)."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, headers, _ = conn.handshake(key=GOOD_KEY)
    assert status == 101
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert headers["upgrade"].lower() == "websocket"
    assert "sec-websocket-extensions" not in headers  # no permessage-deflate, as in userver


@pytest.mark.parametrize("version", ["8", "7", "12", "14", "13, 8", "", None])
def test_wrong_version_gets_426_naming_13(sample_service, raw_ws, version):
    """A Sec-WebSocket-Version other than 13 (or none) gets 426 with Sec-WebSocket-Version: 13."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, headers, _ = conn.handshake(version=version)
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert conn.at_eof()
    assert_service_still_echoes(raw_ws, sample_service.port)


@pytest.mark.parametrize(
    "key",
    ["", "c2hvcnQ=", "!!!!not-base64!!!!!!!!!!", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==AAAA"],
    ids=["missing", "short", "not-base64", "unpadded", "too-long"],
)
def test_missing_or_malformed_key_gets_400(sample_service, raw_ws, key):
    """A missing Sec-WebSocket-Key, or one that is not base64 of 16 bytes, gets 400."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, body = conn.handshake(key=key)
    assert status == 400
    assert b"Sec-WebSocket-Key" in body
    assert conn.at_eof()
    assert_service_still_echoes(raw_ws, sample_service.port)


@pytest.mark.parametrize("upgrade", ["web\tsocket", "websocket, h2c", "h2c", "web socket", "websockets"])
def test_malformed_upgrade_header_gets_400(sample_service, raw_ws, upgrade):
    """An Upgrade header that is not exactly 'websocket' (a tab inside it, a second protocol) gets 400."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, body = conn.handshake(upgrade=upgrade)
    assert status == 400
    assert body.startswith(b"Not a websocket request")
    assert conn.at_eof()
    assert_service_still_echoes(raw_ws, sample_service.port)


@pytest.mark.parametrize("upgrade", ["WebSocket", "websocket\t", " websocket"])
def test_upgrade_header_is_case_insensitive_and_trimmed(sample_service, raw_ws, upgrade):
    """'WebSocket' in any case, with optional whitespace around it, is a valid Upgrade header."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, _ = conn.handshake(upgrade=upgrade)
    assert status == 101


def test_missing_connection_upgrade_gets_400(sample_service, raw_ws):
    """An Upgrade: websocket request whose Connection header lacks 'Upgrade' gets 400."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, body = conn.handshake(connection="keep-alive")
    assert status == 400
    assert b"Connection" in body


def test_http_1_0_upgrade_gets_400(sample_service, raw_ws):
    """A WebSocket upgrade over HTTP/1.0 gets 400."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, body = conn.request(
        "GET /chat HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {GOOD_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert status == 400
    assert b"HTTP/1.1" in body


def test_control_character_in_upgrade_header_gets_400(sample_service, raw_ws):
    """A control character inside the Upgrade header is rejected by the HTTP parser with 400."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, _ = conn.handshake(upgrade="web\x01socket")
    assert status == 400
    assert_service_still_echoes(raw_ws, sample_service.port)


def test_post_to_chat_gets_405(sample_service, raw_ws):
    """Only GET is routed to /chat: a POST gets 405."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, _ = conn.request("POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
    assert status == 405


def test_connections_dropped_mid_handshake_do_not_hurt_later_clients(sample_service, raw_ws, scaled):
    """Clients that vanish halfway through the request, or reset right after it, leave the service serving."""
    full = (
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {GOOD_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    for cut in (10, 60, len(full) - 2, len(full)):
        for reset in (False, True):
            sock = socket.create_connection(("127.0.0.1", sample_service.port), timeout=scaled(5))
            sock.sendall(full[:cut])
            if reset:  # an RST instead of a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
    assert_service_still_echoes(raw_ws, sample_service.port)
    assert sample_service.proc.poll() is None


def test_non_http_garbage_gets_400_and_service_keeps_serving(sample_service, raw_ws):
    """Bytes that are not HTTP at all (a TLS hello) get 400 and the service keeps serving."""
    conn = raw_ws(sample_service.port, upgraded=False)
    status, _, _ = conn.request("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
    assert status == 400
    assert_service_still_echoes(raw_ws, sample_service.port)
