"""Installing the examples' own dependencies once, outside the repository, for their tests.

The Starlette example's requirements go into a ``pip install --target`` directory and the
Node example's ``npm ci`` into a ``node_modules`` directory, both under pytest's cache dir
(``.pytest_cache/d/wsservice-examples``), keyed by a hash of ``requirements.txt`` or
``package-lock.json`` (and, for the Starlette install, by the Python version: it holds
compiled modules): a rerun with the same files reuses them at no cost. A file lock makes
concurrent xdist workers install once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEBSOCKETS_ECHO = EXAMPLES / "websockets_echo"
STARLETTE_ECHO = EXAMPLES / "starlette_echo"
NODE_WS_ECHO = EXAMPLES / "node_ws_echo"

#: Seconds an install may take before the test gives up on it.
INSTALL_TIMEOUT = 600.0

_DONE = ".complete"


class InstallError(RuntimeError):
    """An example's dependencies could not be installed; the message has the tool's output."""


def _digest(*files: Path) -> str:
    sha = hashlib.sha256()
    for file in files:
        sha.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def _run(argv: list[str], cwd: Path, timeout: float) -> None:
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InstallError(f"{' '.join(argv)} did not finish within {timeout:g} seconds (in {cwd}).") from None
    except FileNotFoundError:
        raise InstallError(f"{argv[0]} was not found; it is needed to install an example's dependencies.") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise InstallError(f"{' '.join(argv)} exited with status {result.returncode} (in {cwd}):\n{tail}")


def _cached(root: Path, key: str, build: Callable[[Path], None]) -> Path:
    """``root/key``, built by ``build(temp_dir)`` once and renamed into place under a lock."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / key
    if (target / _DONE).exists():
        return target
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / _DONE).exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=root))
        try:
            build(work)
            (work / _DONE).write_text("")
            os.rename(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def starlette_site(cache_root: Path, timeout: float = INSTALL_TIMEOUT) -> Path:
    """A directory holding the Starlette example's requirements; put it on ``PYTHONPATH``."""
    requirements = STARLETTE_ECHO / "requirements.txt"

    def build(work: Path) -> None:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--target",
                str(work / "site"),
                "-r",
                str(requirements),
            ],
            cwd=work,
            timeout=timeout,
        )

    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return _cached(cache_root, f"starlette-{python}-{_digest(requirements)}", build) / "site"


def node_modules(cache_root: Path, timeout: float = INSTALL_TIMEOUT) -> Path:
    """A ``node_modules`` directory made by ``npm ci`` from the Node example's lock file."""
    files = [NODE_WS_ECHO / "package.json", NODE_WS_ECHO / "package-lock.json"]

    def build(work: Path) -> None:
        for file in files:
            shutil.copy(file, work / file.name)
        _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work, timeout=timeout)

    return _cached(cache_root, f"node-{_digest(*files)}", build) / "node_modules"
