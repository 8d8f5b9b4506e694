"""A WebSocket echo service built on the websockets library, with no config file.

    python svc.py --host 127.0.0.1 --port 8080 [--tls-cert PEM --tls-key PEM]

- ``GET /healthz`` answers 200 once the listener accepts connections;
- a WebSocket on ``/chat`` echoes every message back (text as text, binary as binary);
- any other path answers 404;
- SIGTERM or SIGINT closes open WebSockets with 1001 (going away) and exits 0.

With ``--tls-cert`` and ``--tls-key`` it serves ``https``/``wss`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

log = logging.getLogger("websockets_echo")


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    """Answer /healthz over plain HTTP; let /chat upgrade; 404 anything else."""
    if request.path == "/healthz":
        return connection.respond(HTTPStatus.OK, "OK\n")
    if request.path != "/chat":
        return connection.respond(HTTPStatus.NOT_FOUND, f"no such path: {request.path}\n")
    return None


async def echo(connection: ServerConnection) -> None:
    async for message in connection:
        await connection.send(message)


async def main(host: str, port: int, tls: ssl.SSLContext | None) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    async with serve(echo, host, port, process_request=process_request, ssl=tls) as server:
        scheme = "https" if tls else "http"
        bound = server.sockets[0].getsockname()
        log.info("listening on %s://%s:%d", scheme, host if ":" not in host else f"[{host}]", bound[1])
        await stop
        log.info("stopping")
    # Leaving the block closes every WebSocket with 1001 and waits for the handlers.


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="WebSocket echo on /chat, health on /healthz.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve https/wss")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    asyncio.run(main(args.host, args.port, tls))
