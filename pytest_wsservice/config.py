"""Compatibility: the config functions and hooks now live in :mod:`pytest_wsservice.service.config`."""

from __future__ import annotations

from .service.config import (
    LOG_LEVELS,
    ConfigHook,
    MakePathsAbsolute,
    PatchDefaultLogger,
    PatchListener,
    apply_config_hooks,
    build_service_config,
    config_vars_path,
    describe_hook,
    listener_address,
    load_config_vars,
    load_static_config,
    ping_path,
    resolve_config_vars,
    write_service_config,
)

__all__ = [
    "LOG_LEVELS",
    "ConfigHook",
    "MakePathsAbsolute",
    "PatchDefaultLogger",
    "PatchListener",
    "apply_config_hooks",
    "build_service_config",
    "config_vars_path",
    "describe_hook",
    "listener_address",
    "load_config_vars",
    "load_static_config",
    "ping_path",
    "resolve_config_vars",
    "write_service_config",
]
