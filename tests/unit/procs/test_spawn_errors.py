"""A script whose ``#!`` interpreter is missing is reported as such, not as a missing executable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_wsservice.errors import ServiceStartError
from pytest_wsservice.service.process import ServiceProcess


def _script(directory: Path, content: bytes) -> Path:
    script = directory / "s.sh"
    script.write_bytes(content)
    script.chmod(0o755)
    return script


def test_a_crlf_shebang_names_the_interpreter_with_its_carriage_return(tmp_path: Path) -> None:
    """``printf '#!/bin/sh\\r\\n...'`` : the message names the script, the interpreter with ``\\r`` visible, and why."""
    script = _script(tmp_path, b"#!/bin/sh\r\necho hello\r\n")
    with pytest.raises(ServiceStartError) as caught:
        ServiceProcess.spawn([str(script), "--config", "c.yaml"], log_path=tmp_path / "log")
    assert str(caught.value) == (
        f"cannot start the service: {script} exists, but the interpreter named on its line 1, '/bin/sh\\r', was not "
        "found (the line ends with '\\r': the script has Windows line ends; convert it with dos2unix) "
        f"(command: {script} --config c.yaml)."
    )


def test_a_missing_interpreter_is_named(tmp_path: Path) -> None:
    script = _script(tmp_path, b"#!/no/such/python3 -u\nprint(1)\n")
    with pytest.raises(
        ServiceStartError,
        match=re.escape("interpreter named on its line 1, '/no/such/python3', was not found (command:"),
    ):
        ServiceProcess.spawn([str(script)], log_path=tmp_path / "log")


def test_a_script_without_a_shebang_says_so(tmp_path: Path) -> None:
    script = _script(tmp_path, b"\x7fELF-not-really\n")
    with pytest.raises(ServiceStartError, match="is neither a program nor a script that starts with a '#!' line"):
        ServiceProcess.spawn([str(script)], log_path=tmp_path / "log")


def test_a_missing_program_is_still_a_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(ServiceStartError, match=r"executable '/no/such/program' was not found"):
        ServiceProcess.spawn(["/no/such/program"], log_path=tmp_path / "log")
