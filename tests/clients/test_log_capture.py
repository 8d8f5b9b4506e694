"""service_client.capture_logs(): the service's log lines of one block, parsed and selectable."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import pytest

from pytest_wsservice.clients.logcapture import LogCapture, parse_log_line


async def say(websocket_client, text):
    async with websocket_client.get("chat") as chat:
        await chat.send(text)
        assert await chat.recv() == text


async def test_capture_holds_only_the_lines_of_its_block(service_client, websocket_client):
    """Lines logged before and after the block are not captured; every line logged inside it is, in order."""
    await say(websocket_client, "before-the-block")
    async with service_client.capture_logs() as capture:
        await say(websocket_client, "inside-the-block")
    await say(websocket_client, "after-the-block")

    texts = [line.text for line in capture.lines]
    assert not [text for text in texts if "before-the-block" in text or "after-the-block" in text]
    received = capture.select(level="DEBUG", text="data='inside-the-block'")
    assert len(received) == 1 and received[0].logger == "sample_service.chat"
    opened = [i for i, text in enumerate(texts) if text.startswith("connection opened")]
    closed = [i for i, text in enumerate(texts) if text.startswith("connection closed")]
    assert len(opened) == 1 and len(closed) == 1
    assert opened[0] < texts.index(received[0].text) < closed[0]


async def test_select_by_level_and_logger(service_client, websocket_client, service_config):
    """A protocol error inside the block is found by select(level='WARNING', text=...), and logger= matches a logger
    and its children.
    """
    limit = service_config["components_manager"]["components"]["websocket-handler"]["max-remote-payload"]
    async with service_client.capture_logs() as capture:
        async with websocket_client.get("chat") as chat:
            await chat.send("x" * (limit + 1))
            await chat.wait_closed()
        assert chat.close_code == 1009
    warnings = capture.select(level="warning", text="protocol error")
    assert len(warnings) == 1 and "code=1009" in warnings[0].text
    assert warnings[0].level == "WARNING" and warnings[0].timestamp
    assert capture.select(level="WARNING", logger="sample_service") == warnings
    assert capture.select(level="WARNING", logger="sample_service.chat") == warnings
    assert capture.select(level="WARNING", logger="sample_servic") == []
    assert capture.select(level="ERROR") == []


@pytest.mark.config(USERVER_LOG_REQUEST=False)
async def test_log_request_off_writes_no_message_lines(service_client, websocket_client):
    """With USERVER_LOG_REQUEST off, messages are echoed but no 'message received' line is logged."""
    async with service_client.capture_logs() as capture:
        await say(websocket_client, "not-logged")
    assert capture.select(text="connection closed")
    assert capture.select(text="message received") == []


async def test_lines_are_read_after_the_block_only(service_client):
    """Reading the capture inside its block is an error that says to read it after the block."""
    async with service_client.capture_logs() as capture:
        with pytest.raises(
            RuntimeError, match=r"once the 'async with service_client\.capture_logs\(\) as capture:' block has ended"
        ):
            capture.select(level="INFO")
    assert isinstance(capture, LogCapture) and list(capture) == capture.lines


async def test_capture_of_a_failing_block_still_reads_its_lines(service_client, websocket_client):
    """An exception inside the block propagates, and the lines written before it are still captured."""
    capture = service_client.capture_logs()
    with pytest.raises(ZeroDivisionError):
        async with capture:
            await say(websocket_client, "then-it-fails")
            _ = 1 / 0
    assert capture.select(text="data='then-it-fails'")


async def test_capture_without_flush_reads_the_file(service_client, websocket_client, service_handle):
    """capture_logs(flush=False) reads the service's log file without tests-control and still sees its block's lines."""
    async with service_client.capture_logs(flush=False) as capture:
        await say(websocket_client, "unflushed")
    assert capture.log_path == service_handle.log_path
    assert capture.select(text="data='unflushed'")


def test_parse_plain_line():
    """A line in the plain format is split into timestamp, level, logger and message."""
    line = parse_log_line(
        "2026-11-22 03:15:50.123 INFO sample_service.chat: connection opened peer=127.0.0.1:5 path=/chat: x"
    )
    assert (line.timestamp, line.level, line.logger, line.text) == (
        "2026-11-22 03:15:50.123",
        "INFO",
        "sample_service.chat",
        "connection opened peer=127.0.0.1:5 path=/chat: x",
    )
    assert line.fields["level"] == "INFO"


def test_parse_tskv_line():
    """A userver tskv line gives level, module as logger, and text with its escapes undone."""
    raw = "tskv\ttimestamp=2026-11-22T03:15:50.123456\tlevel=WARNING\tmodule=Handle ( handler.cpp:42 )\ttext=a\\tb\\nc\\\\d=e\tlink=abc"
    line = parse_log_line(raw)
    assert line.level == "WARNING" and line.logger == "Handle ( handler.cpp:42 )"
    assert line.text == "a\tb\nc\\d=e"
    assert line.timestamp == "2026-11-22T03:15:50.123456" and line.fields["link"] == "abc"
    assert line.line == raw


def test_parse_other_line():
    """A line in neither format keeps its whole text and has no level, so only text= finds it."""
    line = parse_log_line("Traceback (most recent call last):")
    assert line.level is None and line.logger is None and line.text == "Traceback (most recent call last):"


@pytest.mark.asyncio  # it uses no plugin fixture, so the plugin does not mark it
async def test_capture_skips_a_line_still_being_written(tmp_path):
    """A partial last line (no line break yet) is left out; lines written before the block are too."""
    log = tmp_path / "service.log"
    log.write_text("2026-11-22 03:15:50.123 INFO a: before\n")
    capture = LogCapture(log)
    async with capture:
        with open(log, "a") as file:
            file.write("2026-11-22 03:15:50.124 ERROR a: inside\n2026-11-22 03:15:50.125 INFO a: partial")
    assert [line.text for line in capture] == ["inside"]
    assert capture.select(level="error")[0].logger == "a"
