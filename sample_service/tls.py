"""The TLS listener's context, made only when the static config asks for TLS.

``components_manager.components.server.listener.tls`` with ``cert`` (the certificate chain,
PEM, leaf first) and ``private-key`` (its key, PEM, unencrypted), both paths relative to the
config file, makes the service serve HTTPS and WSS on its one port. Without ``tls`` no
context is made at all.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from .config import ConfigError, ServiceConfig

__all__ = ["TLS_KEY", "server_context"]

TLS_KEY = "components_manager.components.server.listener.tls"


def server_context(config: ServiceConfig) -> ssl.SSLContext | None:
    """The server-side TLS context for ``config``, or ``None`` when it has no ``tls``.

    Raises:
        ConfigError: A file cannot be read, is not PEM, or the key does not match the certificate.
    """
    if config.tls_cert is None or config.tls_private_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    for key, path in (("cert", config.tls_cert), ("private-key", config.tls_private_key)):
        if not Path(path).is_file():
            raise ConfigError(config.config_path, f"{TLS_KEY}.{key}", f"no such file: {path}")
    try:
        context.load_cert_chain(config.tls_cert, config.tls_private_key)
    except (ssl.SSLError, OSError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            config.config_path,
            TLS_KEY,
            f"cannot use cert {config.tls_cert} with private-key {config.tls_private_key}: {problem}; "
            "both must be PEM files, the key unencrypted and matching the certificate",
        ) from None
    return context
