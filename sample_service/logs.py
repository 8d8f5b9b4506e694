"""Logging setup from the static config's ``logging.loggers.default`` section.

Every record becomes exactly one plain-text line::

    2026-11-22 03:15:50.123 INFO sample_service.chat: connection opened peer=127.0.0.1:51234 path=/chat

that is ``DATE TIME LEVEL LOGGER: MESSAGE`` in local time, LEVEL one of TRACE, DEBUG, INFO,
WARNING, ERROR, CRITICAL. Line breaks inside a message or a traceback are written as ``\\n``
so that one record never spans two lines.
"""

from __future__ import annotations

import logging
import sys

from .config import ConfigError, ServiceConfig

__all__ = ["TRACE", "setup_logging"]

#: userver's ``trace`` level, below DEBUG.
TRACE = 5

_LEVELS = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

_LOGGER_KEY = "components_manager.components.logging.loggers.default.file_path"


class OneLineFormatter(logging.Formatter):
    """``DATE TIME LEVEL LOGGER: MESSAGE``, one line per record whatever the message holds."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if "\n" in text or "\r" in text:
            text = text.replace("\r", "\\r").replace("\n", "\\n")
        return text


class BadRequestFilter(logging.Filter):
    """Turn aiohttp's traceback for a malformed HTTP request into one short WARNING line.

    A client that sends garbage (a bad header byte, TLS on the plain port) is not a fault
    of the service; aiohttp logs it at ERROR with a traceback from its parser. The record
    keeps its logger and peer and says what was malformed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__module__ == "aiohttp.http_exceptions":
            original = " ".join(record.getMessage().split())
            record.msg = "%s: %s"
            record.args = (original, " ".join(str(exc).split()))
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging(config: ServiceConfig) -> bool:
    """Point the root logger at the configured destination and level.

    Args:
        config: The validated static config.

    Returns:
        Whether log lines reach the process's stderr (the caller then need not repeat a
        fatal error there).

    Raises:
        ConfigError: The log file cannot be opened for appending.
    """
    logging.addLevelName(TRACE, "TRACE")
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)

    target = config.log_file_path
    handler: logging.Handler
    if target == "@null":
        # A handler that drops records keeps logging's last-resort stderr handler quiet,
        # and a level above CRITICAL skips formatting altogether.
        root.addHandler(logging.NullHandler())
        root.setLevel(logging.CRITICAL + 1)
        return False
    if target == "@stderr":
        handler = logging.StreamHandler(sys.stderr)
    elif target == "@stdout":
        handler = logging.StreamHandler(sys.stdout)
    else:
        try:
            handler = logging.FileHandler(target, mode="a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                config.config_path, _LOGGER_KEY, f"cannot open log file {target}: {exc.strerror or exc}"
            ) from None
    handler.setFormatter(OneLineFormatter())
    server_logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, BadRequestFilter) for f in server_logger.filters):
        server_logger.addFilter(BadRequestFilter())
    root.addHandler(handler)
    root.setLevel(_LEVELS[config.log_level])
    return target == "@stderr"
