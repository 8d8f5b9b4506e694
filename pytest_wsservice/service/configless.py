"""The pieces of the recipe for services without a userver config, and for TLS.

- :func:`listener_config`: what the session keeps as the "config" of a configless service:
  the listener's host and port and nothing else. It is never written to a file nor passed
  to the service; it lets restarts and port changes work the same way for every service.
- :class:`PatchListenerTls`: the config hook that puts the TLS files into userver's keys
  ``server.listener.tls.cert`` and ``.private-key``.
- :func:`session_tls`, :func:`tls_files`: the session's TLS files (made once, reused by the
  early start).
- :data:`NO_CONFIG`: the message for fixtures and markers that need a config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import LISTENER
from .tls import TlsFiles, make_tls_files

__all__ = ["NO_CONFIG", "PatchListenerTls", "listener_config", "no_config_message", "session_tls", "tls_files"]

#: What fixtures and markers that read or patch the static config say in a configless run.
NO_CONFIG = (
    "this run has no static config: {origin} starts a configless service (--service-command without "
    "--service-config), so there is nothing to {what}. Give --service-config PATH (or service_config in the ini "
    "file) for a service that reads a userver-layout config."
)


def no_config_message(origin: str, what: str) -> str:
    """:data:`NO_CONFIG` for ``origin`` (the command's option) and ``what`` cannot be done."""
    return NO_CONFIG.format(origin=origin, what=what)


def listener_config(host: str, port: int) -> dict[str, Any]:
    """A config holding only the listener, for a configless service (never written)."""
    config: dict[str, Any] = {}
    node = config
    for key in LISTENER:
        node = node.setdefault(key, {})
    node.update(host=host, port=port)
    return config


@dataclass(frozen=True)
class PatchListenerTls:
    """Config hook: serve TLS with these files (``server.listener.tls.cert`` and ``.private-key``)."""

    cert: str
    private_key: str

    def __call__(self, config: dict[str, Any], config_vars: dict[str, Any]) -> None:
        node: Any = config
        for key in LISTENER:
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node["tls"] = {"cert": self.cert, "private-key": self.private_key}


def tls_files(directory: Path) -> TlsFiles:
    """The session's TLS files in ``directory``: made by the first call, reused by the next.

    The early start and the fixtures both ask; a service started early must be trusted by
    the clients built later, so the files are made only once per session directory.
    """
    files = TlsFiles(
        cert_chain=directory / "server.pem", private_key=directory / "server.key", ca_cert=directory / "ca.pem"
    )
    if all(path.is_file() and path.stat().st_size > 0 for path in (files.cert_chain, files.private_key, files.ca_cert)):
        return files
    return make_tls_files(directory)


def session_tls(enabled: bool, tmpdir: Path) -> TlsFiles | None:
    """With ``--service-tls`` (``enabled``), the session's TLS files in ``tmpdir/tls``, else ``None``."""
    return tls_files(tmpdir / "tls") if enabled else None
