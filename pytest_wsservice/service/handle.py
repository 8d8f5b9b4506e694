"""The running service as tests see it, and the one place its base URL is built.

:class:`ServiceHandle` is what ``service_start`` and ``service_handle`` return.
:func:`build_base_url` is the only function that turns a listener (or a ``--service-url``)
into the ``http://HOST:PORT/`` base URL the clients join paths to; the trailing slash is
normalised there and nowhere else. yarl is imported inside it, so importing this module
costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yarl import URL

    from .tls import TlsFiles

__all__ = ["ServiceHandle", "base_text", "build_base_url", "parse_service_url", "ready_handle"]

#: What a ``--service-url`` scheme means for the base URL the clients use.
_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}


@dataclass(frozen=True)
class ServiceHandle:
    """A running service, as tests see it (what ``service_start`` returns).

    Attributes:
        pid: The service's process id (also its process group id); ``None`` for a
            service the plugin did not start (``--service-url``).
        host: The address its listener is reached on, for example ``127.0.0.1``.
        port: The listener port.
        base_url: ``http://HOST:PORT/`` as a :class:`yarl.URL`.
        log_path: The file its stdout, stderr and log go to; ``None`` for a service the
            plugin did not start, unless ``--service-logs-file`` names its log.
        config_path: The patched static config it was started with, if any.
        command: The argv it was started with.
        config: The patched static config it was started with, as a dict, if known;
            ``None`` for a configless service.
        tls: The run's TLS files when the service serves TLS (``--service-tls``), else ``None``.
    """

    pid: int | None
    host: str
    port: int
    base_url: URL
    log_path: Path | None
    config_path: Path | None = None
    command: tuple[str, ...] = field(default=())
    config: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    tls: TlsFiles | None = field(default=None, repr=False)


def ready_handle(
    pid: int,
    command: Sequence[str],
    log_path: Path,
    host: str,
    port: int,
    base_url: URL | None = None,
    config_path: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | None = None,
    tls: TlsFiles | None = None,
) -> ServiceHandle:
    """The handle of a service that the plugin started (or adopted) and that is ready on ``host:port``.

    Without ``base_url``, it is ``http://HOST:PORT/``, or ``https://`` when the service serves ``tls``.
    """
    return ServiceHandle(
        pid=pid,
        host=host,
        port=port,
        base_url=base_url or build_base_url(host, port, scheme="https" if tls else "http"),
        log_path=log_path,
        config_path=Path(config_path) if config_path is not None else None,
        command=tuple(command),
        config=config,
        tls=tls,
    )


def build_base_url(host: str, port: int, *, scheme: str = "http", path: str = "/") -> URL:
    """Return the base URL ``SCHEME://HOST:PORT/PATH/`` (an IPv6 host is bracketed).

    The path always ends in exactly one ``/``, so clients can join relative paths to it.
    """
    from yarl import URL

    return URL.build(scheme=scheme, host=host, port=port, path=path if path.endswith("/") else path + "/")


def base_text(base_url: URL) -> str:
    """``base_url`` as text without query or fragment, ending in exactly one ``/``: what the
    clients append relative paths to."""
    base = str(base_url.with_query(None).with_fragment(None))
    return base if base.endswith("/") else base + "/"


def parse_service_url(value: str) -> URL | None:
    """Return a ``--service-url`` value as an ``http``/``https`` base URL ending in ``/``.

    ``ws://`` becomes ``http://`` and ``wss://`` ``https://``; the query and fragment are
    dropped. ``None`` if the value is not the URL of a service (no known scheme, no host
    or no port).
    """
    from yarl import URL

    try:
        url = URL(value.strip())
        scheme = _SCHEMES.get(url.scheme)
        if scheme is None or not url.host or url.port is None:
            return None
    except (ValueError, TypeError):
        return None
    return build_base_url(url.host, url.port, scheme=scheme, path=url.path)
