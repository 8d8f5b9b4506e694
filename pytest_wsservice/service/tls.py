"""Throwaway TLS material for a service under test.

:func:`make_tls_files` makes a certificate authority that exists only for this run and a
server certificate it signed for ``127.0.0.1``, ``::1`` and ``localhost``, with
`trustme <https://trustme.readthedocs.io>`_, and writes them as PEM files:

- ``server.pem``: the server's certificate chain (the certificate first);
- ``server.key``: the server's private key, readable by its owner only (mode 0600);
- ``ca.pem``: the CA's certificate, which clients trust.

The returned :class:`TlsFiles` names the files and builds a client ``ssl.SSLContext`` that
trusts that CA and nothing else, so a connection that succeeds really went to the service
holding this run's key. trustme is imported only when TLS is asked for.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServiceConfigError

__all__ = ["TLS_HOSTS", "TlsFiles", "make_tls_files"]

#: The names the server certificate is valid for.
TLS_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of one run's TLS material.

    Attributes:
        cert_chain: The server's certificate chain, the certificate first (``{tls_cert}``,
            userver's ``server.listener.tls.cert``).
        private_key: The server's private key, mode 0600 (``{tls_key}``,
            ``server.listener.tls.private-key``).
        ca_cert: The throwaway CA's certificate (``{tls_ca}``), the only one clients trust.
    """

    cert_chain: Path
    private_key: Path
    ca_cert: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that verifies the server against this CA only, hostname included."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_cert))
        return context

    def server_context(self) -> ssl.SSLContext:
        """A server context presenting this certificate, for a service written in Python."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert_chain), str(self.private_key))
        return context


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode``, never leaving the file more open than that."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), mode)
        file.write(data)


def make_tls_files(directory: Path, *, hosts: Sequence[str] = TLS_HOSTS) -> TlsFiles:
    """Make a throwaway CA and a server certificate for ``hosts``, written into ``directory``.

    The directory is created if needed; files of an earlier call are replaced.

    Raises:
        ServiceConfigError: trustme is not installed.
    """
    try:
        import trustme
    except ImportError:
        raise ServiceConfigError(
            "--service-tls needs the trustme package to make a throwaway certificate authority, and it is not "
            "installed: pip install trustme (it comes with pytest-wsservice; reinstall it if it is missing)."
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*hosts)
    files = TlsFiles(
        cert_chain=directory / "server.pem",
        private_key=directory / "server.key",
        ca_cert=directory / "ca.pem",
    )
    _write(files.private_key, leaf.private_key_pem.bytes(), 0o600)
    _write(files.cert_chain, b"".join(blob.bytes() for blob in leaf.cert_chain_pems), 0o644)
    _write(files.ca_cert, ca.cert_pem.bytes(), 0o644)
    return files
