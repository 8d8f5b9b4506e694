"""The aiohttp application: routes, start-up, readiness notice and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time

from aiohttp import web

from .chat import CLOSE_GOING_AWAY, ChatHandler
from .config import ServiceConfig
from .dynamic_config import DynamicConfig
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
    chats = list(app[CHATS])
    if not chats:
        return
    logger.info("closing %d open websocket(s) with code %d", len(chats), CLOSE_GOING_AWAY)
    closing = [asyncio.ensure_future(chat.close(CLOSE_GOING_AWAY, "service shutting down")) for chat in chats]
    done, pending = await asyncio.wait(closing, timeout=max(0.0, deadline - time.monotonic()))
    for task in pending:
        task.cancel()  # cancelling a close drops that connection
    if pending:
        await asyncio.wait(pending)
        logger.warning("%d websocket(s) did not finish closing within the grace period", len(pending))


async def serve(config: ServiceConfig) -> int:
    """Run the service until SIGTERM or SIGINT, then shut down within the grace period.

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

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

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
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    logger.info("listening on http://%s:%d", _url_host(config.host), site.port)
    notify_ready()

    await stop.wait()
    started = time.monotonic()
    deadline[0] = started + grace * 0.9  # leave a tenth for stopping handlers and the loop
    logger.info("%s received, shutting down (grace period %.3gs)", received[0], grace)
    try:
        # Stops accepting, runs on_shutdown (closes WebSockets with 1001), waits for handlers.
        await asyncio.wait_for(runner.cleanup(), timeout=grace)
    except asyncio.TimeoutError:
        logger.warning("shutdown did not finish within the grace period of %.3gs; exiting anyway", grace)
    logger.info("stopped in %.3fs", time.monotonic() - started)
    return 0
