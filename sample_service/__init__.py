"""The bundled WebSocket echo service: an aiohttp application driven by a userver-style static config.

Run it with ``python -m sample_service`` (the bundled ``static_config.yaml``) or
``python -m sample_service -c path/to/static_config.yaml [--config-vars vars.yaml]``.
Its WebSocket echo chat lives on ``/chat`` and a health check on ``/ping``.

This package imports nothing heavy at import time: aiohttp and PyYAML are loaded by the
modules that need them, so ``--help`` and config errors answer fast.
"""

from __future__ import annotations

__all__: list[str] = []
