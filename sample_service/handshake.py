"""The WebSocket opening handshake as the sample checks it, stricter than aiohttp (RFC 6455 section 4).

:func:`check_handshake` answers a bad upgrade request before aiohttp sees it: a wrong
``Sec-WebSocket-Version`` gets 426 with ``Sec-WebSocket-Version: 13`` (aiohttp answers 400
and also accepts 7 and 8), and a plain GET gets userver's ``400 Not a websocket request``.
:func:`reject` builds such an answer for any handler.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

__all__ = ["check_handshake", "format_peer", "reject"]


def format_peer(peername: Any) -> str:
    """``HOST:PORT`` for an IPv4 peer, ``[HOST]:PORT`` for IPv6, ``?`` when unknown."""
    if isinstance(peername, (tuple, list)) and len(peername) >= 2:
        host, port = peername[0], peername[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return "?" if not peername else str(peername)


def reject(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    """A refusal of an upgrade request: ``status`` with ``text``, and the connection closed after it."""
    response = web.Response(status=status, text=text, headers=headers)
    # The client may already be sending frames after its upgrade request; never read them
    # as a next HTTP request.
    response.force_close()
    return response


def check_handshake(request: web.BaseRequest) -> web.Response | None:
    """Return the error response for a bad opening handshake, ``None`` for a good one.

    Checked in order: an upgrade at all (``400 Not a websocket request``), the ``Upgrade``
    and ``Connection`` headers (400), ``Sec-WebSocket-Version`` (426 naming version 13),
    and ``Sec-WebSocket-Key`` (400 unless it is base64 of exactly 16 bytes).
    """
    headers = request.headers
    upgrades = headers.getall("Upgrade", ())
    connection = {
        token.strip(" \t").lower() for value in headers.getall("Connection", ()) for token in value.split(",")
    }
    if not upgrades and "upgrade" not in connection:
        return reject(400, "Not a websocket request")
    if request.version < (1, 1):
        return reject(400, "Not a websocket request: WebSocket needs HTTP/1.1 or later")
    # A tab or a second protocol inside Upgrade, or the header twice, is not a WebSocket upgrade.
    if len(upgrades) != 1 or upgrades[0].strip(" \t").lower() != "websocket":
        return reject(400, "Not a websocket request: the Upgrade header must be exactly 'websocket'")
    if "upgrade" not in connection:
        return reject(400, "Not a websocket request: the Connection header must include 'Upgrade'")
    versions = headers.getall("Sec-WebSocket-Version", ())
    if len(versions) != 1 or versions[0].strip(" \t") != "13":
        return reject(
            426,
            "Unsupported WebSocket version: this service speaks version 13 (RFC 6455)",
            {"Sec-WebSocket-Version": "13"},
        )
    keys = headers.getall("Sec-WebSocket-Key", ())
    try:
        valid_key = len(keys) == 1 and len(base64.b64decode(keys[0].strip(" \t"), validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        return reject(400, "Bad WebSocket handshake: Sec-WebSocket-Key must be base64 of 16 bytes")
    return None
