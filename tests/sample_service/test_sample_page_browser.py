"""The chat page (``handler-chat-page``) driven in a real headless Chromium.

Uses Debian's ``chromium`` package (``/usr/bin/chromium``, or ``$WSSERVICE_CHROMIUM``) driven by
Playwright; Playwright never downloads a browser here. On a machine without Chromium the test
skips and says how to install it (``apt-get install chromium``); ``.ci/run`` installs it, so in CI
it always runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.sample_service.handler_helpers import ALL_HANDLERS, running_sample
from tests.sample_service.sample_helpers import SampleProcess


def _chromium() -> str | None:
    for candidate in (os.environ.get("WSSERVICE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _chromium()

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on this machine: install Debian's package (apt-get install chromium) to run the browser test",
)

#: Chromium's flags for a closed network: no first-run, sync or background fetches to outside hosts.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, scaled: Any) -> Iterator[SampleProcess]:
    with running_sample(tmp_path_factory.mktemp("page"), ALL_HANDLERS, scaled, broadcast=True) as sample:
        yield sample


@pytest.fixture
def page(scaled: Any) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with tempfile.TemporaryDirectory(prefix="wsservice-chromium-") as profile, sync_api.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=scaled(30) * 1000
        )
        try:
            context.set_default_timeout(scaled(10) * 1000)
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _join(page: Any, service: SampleProcess, path: str, user: str = "") -> None:
    page.goto(f"http://127.0.0.1:{service.port}/")
    page.select_option("#path", path)
    if user:
        page.fill("#user", user)
    page.click("#connect")
    page.locator("#log").get_by_text("connected", exact=True).wait_for()


def _say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def test_page_echoes_what_is_typed(page: Any, service: SampleProcess) -> None:
    """Typing on /chat shows the message sent and the service's echo."""
    _join(page, service, "/chat")
    _say(page, "hello from the browser")
    log = page.locator("#log")
    log.get_by_text("> hello from the browser", exact=True).wait_for()
    log.get_by_text("hello from the browser", exact=True).wait_for()  # the echo, a line of its own
    assert log.inner_text().splitlines().count("hello from the browser") == 1


def test_page_in_the_room_sees_another_clients_message(page: Any, service: SampleProcess, scaled: Any) -> None:
    """On /broadcast the page shows what a second client (a plain WebSocket) says in the room."""
    _join(page, service, "/broadcast", user="alice")

    async def bob_speaks() -> None:
        url = f"ws://127.0.0.1:{service.port}/broadcast?user=bob"
        async with connect(url, open_timeout=scaled(10), close_timeout=scaled(5)) as bob:
            await bob.send("hi from bob")
            await asyncio.wait_for(bob.recv(), scaled(10))  # the room echoes it to bob too: it was sent

    # Playwright's sync API runs an event loop in this thread: bob gets a thread of his own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, bob_speaks()).result(timeout=scaled(30))
    page.locator("#log").get_by_text("hi from bob").wait_for()
    _say(page, "hi from alice")
    page.locator("#log").get_by_text("> hi from alice", exact=True).wait_for()
    assert "hi from bob" in page.locator("#log").inner_text()
