"""Command line: ``python -m sample_service [-c CONFIG] [--config-vars VARS]``.

Exit status: 0 after SIGTERM/SIGINT, 1 when the service cannot listen, 2 on a bad
command line or a bad config (one line on stderr naming the file, key path and problem).
"""

from __future__ import annotations

# First of all, before anything can be observed from outside (a log line, READY=1, the
# listening socket): from here on SIGTERM and SIGINT never meet their default action.
from . import signals

signals.install()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config  # noqa: E402

EXIT_CANNOT_LISTEN = 1
EXIT_BAD_CONFIG = 2


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout, except that a word longer than a line (the bundled config's
    path, in a deep checkout) stays whole on a line of its own instead of being cut in two."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False, break_on_hyphens=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sample_service",
        formatter_class=_HelpFormatter,
        description=(
            "The sample WebSocket echo service: echoes every message on the websocket-handler "
            "path (/chat) and answers GET on the handler-ping path (/ping). SIGTERM or SIGINT "
            "closes open WebSockets with 1001 and exits 0 within the shutdown grace period."
        ),
        epilog="A bad config exits with status 2 and one line on stderr naming the file, the key and the problem.",
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=str(DEFAULT_CONFIG_PATH),
        help="static config YAML in userver layout (default: the bundled %(default)s)",
    )
    parser.add_argument(
        "--config-vars",
        metavar="PATH",
        default=None,
        help=(
            "YAML mapping of config vars that '$name' values in the static config refer to; "
            "overrides the config's top-level 'config_vars:' path"
        ),
    )
    return parser.parse_args(argv)


def settle_allocator() -> None:
    """Make glibc's malloc serve asyncio's 256 KiB read buffers from the heap.

    asyncio reads every chunk from a socket into a fresh 256 KiB buffer. glibc serves
    allocations above its mmap threshold (128 KiB at start) with mmap, so each read costs
    mmap, mremap and munmap system calls and two page faults, until the process happens to
    free one larger mmapped block: glibc then raises the threshold to that block's size
    (and its heap trim threshold to twice that). Allocating and freeing 1 MiB once does
    that on purpose. Measured on a sequential echo: 38 µs of server CPU per round trip
    before, 17 µs after. Harmless on other allocators.
    """
    bytearray(1 << 20)


def main(argv: list[str] | None = None) -> int:
    """Run the service; return the exit status."""
    args = parse_args(argv)
    try:
        config = load_config(args.config, args.config_vars)
        from .logs import setup_logging

        logs_on_stderr = setup_logging(config)
        ssl_context = None
        if config.tls_cert is not None:  # only then: no TLS context for a plain listener
            from .tls import server_context

            ssl_context = server_context(config)
    except ConfigError as exc:
        print(f"sample_service: bad config: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if signals.pending() is not None:
        return 0

    import asyncio
    import logging

    from .tlsdefer import deferred_default_certs

    with deferred_default_certs():  # aiohttp's client TLS contexts load their CAs at first use
        from .app import ListenError, serve

    if signals.pending() is not None:  # stopped while starting: nothing is open yet
        return 0
    settle_allocator()
    try:
        return asyncio.run(serve(config, ssl_context))
    except ListenError as exc:
        logging.getLogger("sample_service").critical("%s", exc)
        if not logs_on_stderr:
            print(f"sample_service: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN


def exit_now(status: int) -> None:
    """End the process with ``status`` without tearing the interpreter down.

    The service has shut down by then (every connection closed, the event loop closed).
    What a normal exit would still do, and what it is worth:

    - run the ``atexit`` functions: kept (log handlers flush and close there, and
      coverage.py saves a measured service's data there);
    - flush ``sys.stdout`` and ``sys.stderr``: kept;
    - free every module and object, one by one: skipped. With aiohttp loaded that is some
      60-80 ms of CPU (``python bench/sample_startup.py``, column "SIGTERM->exit"), which a
      test run that waits for the service's exit status pays in full, for memory the
      kernel frees at once anyway.
    """
    import atexit
    import contextlib

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or its reader went away: nothing left to lose
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    status = main()
    signals.finish()  # the status is decided: a late signal must not turn it into -15
    exit_now(status)
