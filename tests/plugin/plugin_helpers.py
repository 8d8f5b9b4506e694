"""Plain helpers for the plugin's tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shlex
import sys
import textwrap
from pathlib import Path

#: The ini every inner run starts from: pytest-asyncio's loop scope set, so that it does not
#: warn; the asyncio mode is left at its default (strict) unless a test says otherwise.
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

#: The userver tutorial's functional test, verbatim: no asyncio marker.
TUTORIAL_TEST = """
async def test_echo(websocket_client):
    async with websocket_client.get('chat') as chat:
        await chat.send('hello')
        response = await chat.recv()
        assert response == 'hello'
"""


def python_command(directory: Path, code: str, name: str = "standin.py") -> str:
    """Write ``code`` as a script in ``directory``; return a --service-command that runs it.

    The script gets the patched config's path as its only argument.
    """
    script = directory / name
    script.write_text(textwrap.dedent(code))
    return shlex.join([sys.executable, str(script), "{config}"])


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # not Linux: fall back to signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
