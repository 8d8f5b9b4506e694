"""The aiohttp application: routes, start-up, readiness notice and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import time

from aiohttp import web

from . import signals
from .chat import CLOSE_GOING_AWAY, ChatHandler
from .config import ServiceConfig
from .dynamic_config import DynamicConfig
from .guard import ConnectionGuard
from .mocked_time import MOCKED_TIME, MockedTime
from .state import BROADCAST_ROOM, CHATS, DYNAMIC_CONFIG, SERVICE_CONFIG
from .testpoint import TESTPOINTS, Testpoints

__all__ = ["ListenError", "build_app", "notify_ready", "serve"]

logger = logging.getLogger("sample_service")


class ListenError(OSError):
    """The service cannot listen on the configured host and port (in use, not local...)."""


async def ping(request: web.Request) -> web.Response:
    """``/ping``: 200 with an empty body whenever the service is listening."""
    return web.Response()


def build_app(config: ServiceConfig) -> web.Application:
    """Create the application for ``config``: ``/ping``, the chat, broadcast and tests-control handlers.

    ``/ping``, ``/broadcast``, tests-control and the optional handler components
    (``/handler-alt``, ``/duplex``, ``/private``, ``/feed``, the chat page: see
    :mod:`sample_service.handlers`) only if the config has them. The dynamic
    config starts from the fallback file's contents and lives in ``app[DYNAMIC_CONFIG]``;
    handlers read it at request time.
    """
    app = web.Application()
    app[SERVICE_CONFIG] = config
    app[DYNAMIC_CONFIG] = DynamicConfig(config.dynamic_config)
    app[CHATS] = set()
    app[TESTPOINTS] = Testpoints.from_config(config)
    app.on_cleanup.append(app[TESTPOINTS].on_cleanup)
    app[MOCKED_TIME] = MockedTime()
    if config.ping_path is not None:
        app.router.add_get(config.ping_path, ping)
    chat = ChatHandler(
        max_remote_payload=config.max_remote_payload,
        fragment_size=config.fragment_size,
        close_timeout=config.shutdown_grace_period,
    )
    # Bound methods: aiohttp sees coroutine functions, so it neither wraps nor warns.
    app.router.add_get(config.chat_path, chat.__call__)
    if config.broadcast_path is not None:
        from .broadcast import BroadcastHandler, Room

        app[BROADCAST_ROOM] = Room()
        broadcast = BroadcastHandler(
            max_remote_payload=config.broadcast_max_remote_payload,
            max_queue=config.broadcast_max_queue,
            close_timeout=config.shutdown_grace_period,
        )
        app.router.add_get(config.broadcast_path, broadcast.__call__)
    if config.tests_control_path is not None:
        from .tests_control import TestsControlHandler

        control = TestsControlHandler(secret=config.tests_control_secret)
        app.router.add_get(config.tests_control_path, control.__call__)
        app.router.add_post(config.tests_control_path, control.__call__)
    if config.handlers:  # the optional handler components (sample_service/handlers.py)
        from .handlers import add_handlers

        add_handlers(app, config)
    return app


def notify_ready() -> None:
    """Send ``READY=1`` to ``$NOTIFY_SOCKET`` (systemd's sd_notify protocol), if it is set.

    A leading ``@`` names a socket in Linux's abstract namespace. A failure is logged and
    otherwise ignored: the ``/ping`` handler and the log line still tell readiness.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
            sock.sendall(b"READY=1")
    except OSError as exc:
        logger.warning("readiness notice failed NOTIFY_SOCKET=%r error=%r", address, exc)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _close_chats(app: web.Application, deadline: float) -> None:
    """on_shutdown: close every open WebSocket with 1001, waiting until ``deadline`` at most."""
    open_chats = app[CHATS]
    chats = list(open_chats)
    if not chats:
        return
    logger.info("closing %d open websocket(s) with code %d", len(chats), CLOSE_GOING_AWAY)
    closing = [asyncio.ensure_future(chat.close(CLOSE_GOING_AWAY, "service shutting down")) for chat in chats]
    _done, pending = await asyncio.wait(closing, timeout=max(0.0, deadline - time.monotonic()))
    for task in pending:
        task.cancel()  # cancelling a close drops that connection
    if pending:
        await asyncio.wait(pending)
        logger.warning("%d websocket(s) did not finish closing within the grace period", len(pending))


def _on_idle(app: web.Application, transport: asyncio.Transport, path: str, seconds: float) -> None:
    """A WebSocket sent nothing for its handler's ``idle-timeout``: close it with 1001."""
    sock = transport.get_extra_info("socket")
    for chat in app[CHATS]:
        if sock is not None and chat.ws.get_extra_info("socket") is sock:
            logger.info(
                "idle timeout peer=%s path=%s: nothing received for %.3gs; closing with %d",
                chat.peer,
                path,
                seconds,
                CLOSE_GOING_AWAY,
            )
            task = asyncio.ensure_future(chat.close(CLOSE_GOING_AWAY, "idle timeout"))
            IDLE_CLOSES.add(task)
            task.add_done_callback(IDLE_CLOSES.discard)
            return
    # Not (or no longer) an open WebSocket: a plain request that kept its connection.
    transport.close()


#: The closes started by the idle limit, kept until they finish.
IDLE_CLOSES: set[asyncio.Future[None]] = set()


async def _listen(runner: web.AppRunner, config: ServiceConfig, ssl_context: ssl.SSLContext | None) -> asyncio.Server:
    """Listen on the configured address, every connection behind a :class:`ConnectionGuard`."""
    server = runner.server
    assert server is not None
    app = runner.app

    def protocol() -> ConnectionGuard:
        return ConnectionGuard(
            server(),
            handshake_timeout=config.handshake_timeout,
            idle_timeouts=config.idle_timeouts,
            on_idle=lambda transport, path, seconds: _on_idle(app, transport, path, seconds),
        )

    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(
            protocol,
            config.host,
            config.port,
            ssl=ssl_context,
            ssl_handshake_timeout=(config.handshake_timeout or None) if ssl_context is not None else None,
            reuse_address=True,
        )
    except OSError as exc:
        raise ListenError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None


async def serve(config: ServiceConfig, ssl_context: ssl.SSLContext | None = None) -> int:
    """Run the service until SIGTERM or SIGINT, then shut down within the grace period.

    Args:
        config: The validated static config.
        ssl_context: The TLS listener's context (:func:`sample_service.tls.server_context`),
            ``None`` for plain HTTP.

    Returns:
        The process exit status: 0 after a shutdown by signal.

    Raises:
        ListenError: The configured address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if received:
            logger.info("%s received, already shutting down", name)
            return
        received.append(name)
        stop.set()

    signals.install()  # already done by ``python -m sample_service``; harmless again
    signals.route_to(loop, on_signal)
    try:
        return await _serve(config, ssl_context, stop, received)
    finally:
        signals.finish()


async def _serve(
    config: ServiceConfig, ssl_context: ssl.SSLContext | None, stop: asyncio.Event, received: list[str]
) -> int:
    grace = config.shutdown_grace_period
    app = build_app(config)
    if config.dynamic_config_path is not None:
        logger.info("dynamic config: %d values from %s", len(config.dynamic_config), config.dynamic_config_path)
    if config.tests_control_path is not None:
        secured = "with a secret" if config.tests_control_secret else "WITHOUT a secret: any local user can use it"
        logger.info("tests-control enabled on %s (loopback peers only, %s)", config.tests_control_path, secured)
    deadline = [0.0]  # set when the shutdown starts
    app.on_shutdown.append(lambda app: _close_chats(app, deadline[0]))
    # No access log: it costs a log line per HTTP request and per WebSocket upgrade.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=grace)
    await runner.setup()
    if stop.is_set():  # a signal came while starting: never listen
        logger.info("%s received before listening; exiting", received[0])
        await runner.cleanup()
        return 0
    try:
        listening = await _listen(runner, config, ssl_context)
    except ListenError:
        await runner.cleanup()
        raise
    port = listening.sockets[0].getsockname()[1] if listening.sockets else config.port
    scheme = "https" if ssl_context is not None else "http"
    logger.info("listening on %s://%s:%d", scheme, _url_host(config.host), port)
    notify_ready()

    await stop.wait()
    started = time.monotonic()
    deadline[0] = started + grace * 0.9  # leave a tenth for stopping handlers and the loop
    logger.info("%s received, shutting down (grace period %.3gs)", received[0], grace)
    listening.close()  # stop accepting; open connections are closed by the runner below
    try:
        # Runs on_shutdown (closes WebSockets with 1001), waits for handlers.
        await asyncio.wait_for(runner.cleanup(), timeout=grace)
    except asyncio.TimeoutError:
        logger.warning("shutdown did not finish within the grace period of %.3gs; exiting anyway", grace)
    logger.info("stopped in %.3fs", time.monotonic() - started)
    return 0
