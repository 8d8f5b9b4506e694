"""--service-runner-mode: start the service by hand, poke at it, stop it with Ctrl-C."""

from __future__ import annotations

import os
import re
import selectors
import signal
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from tests.plugin.lifecycle.lifecycle_helpers import BASE_INI, CONFTEST, InnerRun, assert_nothing_left, pid_alive


def read_until(run: InnerRun, pattern: str, timeout: float, seen: list[str]) -> str:
    """Read the run's output until it matches ``pattern``; ``seen`` keeps all text read so far."""
    stream = run.process.stdout
    assert stream is not None
    fd = stream.fileno()  # raw reads: a buffered readline would hide data from select()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not re.search(pattern, "".join(seen), re.M):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"nothing matching {pattern!r} within {timeout} s:\n{''.join(seen)}"
            if selector.select(remaining):
                data = os.read(fd, 65536)
                assert data, f"the run ended before printing {pattern!r}:\n{''.join(seen)}"
                seen.append(data.decode("utf-8", "replace"))
    return "".join(seen)


def test_runner_mode_serves_until_ctrl_c(pytester, scaled):
    """--service-runner-mode prints the URLs, config and log paths, serves WebSocket and HTTP until SIGINT, then stops
    the service and exits 0.
    """
    pytester.makeini(BASE_INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("def test_never_run():\n    raise AssertionError('runner mode runs no tests')\n")
    seen: list[str] = []
    with InnerRun(pytester.path, "-p", "no:xdist", "--service-runner-mode") as run:
        banner = read_until(run, r"^Its log follows\. Press Ctrl-C to stop it\.$", scaled(20), seen)
        pid = int(re.search(r"the service is running \(pid (\d+)\)", banner).group(1))
        base_url = re.search(r"^  base URL:  (http://127\.0\.0\.1:\d+/)$", banner, re.M).group(1)
        chat_url = re.search(r"^  WebSocket: (ws://127\.0\.0\.1:\d+/chat)$", banner, re.M).group(1)
        page_url = re.search(
            r"^  Page:      (http://127\.0\.0\.1:\d+/) \(a chat page: open it in a browser\)$", banner, re.M
        )
        assert page_url is not None and page_url.group(1) == base_url, banner
        config = re.search(r"^  config:    (/\S+static_config\.yaml)$", banner, re.M).group(1)
        log = re.search(r"^  log:       (/\S+service\.log)$", banner, re.M).group(1)
        assert f"port: {base_url.rsplit(':', 1)[1].rstrip('/')}" in Path(config).read_text()
        with urllib.request.urlopen(f"{base_url}ping", timeout=scaled(5)) as response:
            assert response.status == 200
        with connect(chat_url, open_timeout=scaled(5)) as chat:
            chat.send("by hand")
            assert chat.recv(timeout=scaled(5)) == "by hand"
        read_until(run, r"connection closed .*messages=1 ", scaled(5), seen)  # the log is shown live
        run.signal(signal.SIGINT)
        status, rest = run.finish(scaled(20))
    output = "".join(seen) + rest
    assert status == 0, output
    assert "wsservice runner mode: Ctrl-C, stopping the service." in output
    assert not pid_alive(pid)
    assert "SIGTERM received" in Path(log).read_text()
    assert_nothing_left(run.mark, within=2.0)


def test_runner_mode_refuses_xdist(project):
    """--service-runner-mode with -n is a usage error, said in one line."""
    result = project.runpytest_inprocess("--service-runner-mode", "-n", "2")
    assert result.ret == 4  # pytest's usage error
    result.stderr.fnmatch_lines(
        ["ERROR: --service-runner-mode runs one service by hand; it cannot be combined with -n."]
    )
