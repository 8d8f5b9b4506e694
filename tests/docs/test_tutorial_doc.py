"""The tutorial's examples run as written, against the bundled sample service."""

from __future__ import annotations

import asyncio

import pytest

from tests.docs.doc_blocks import (
    Block,
    blocks_of,
    blocks_with_tests,
    copy_sample_config,
    make_placeholder_service,
    pytest_args,
    the_block,
)

PAGE = "docs/tutorial.md"


def handler() -> Block:
    return the_block(PAGE, "python", "from aiohttp import WSMsgType, web\n")


def conftest() -> Block:
    return the_block(PAGE, "python", "pytest_plugins")


def echo_test() -> Block:
    return the_block(PAGE, "python", "async def test_echo(websocket_client):\n")


def command(starting: str) -> list[str]:
    """The arguments of the page's ``pytest ...`` command that starts with ``starting``."""
    return pytest_args(the_block(PAGE, "sh", starting))


def blocks_run() -> list[Block]:
    """The handler, the static config, the conftest, ini, tests and pytest commands, and the pyproject."""
    return [
        handler(),
        the_block(PAGE, "yaml", "components_manager:\n"),
        conftest(),
        the_block(PAGE, "ini", "[pytest]\n"),
        *blocks_with_tests(PAGE),
        the_block(PAGE, "sh", "pytest --service-config sample_service/"),
        the_block(PAGE, "sh", "pytest --service-config path/to/"),
        the_block(PAGE, "toml", "[tool.pytest.ini_options]\n"),
    ]


def python_blocks() -> list[str]:
    return [block.text for block in blocks_of(PAGE, "python")]


def test_tutorial_has_the_userver_test_and_conftest():
    """The tutorial shows the userver test verbatim and the one-line conftest."""
    blocks = python_blocks()
    assert "pytest_plugins = ['pytest_wsservice']\n" in blocks
    assert (
        "async def test_echo(websocket_client):\n"
        "    async with websocket_client.get('chat') as chat:\n"
        "        await chat.send('hello')\n"
        "        response = await chat.recv()\n"
        "        assert response == 'hello'\n"
    ) in blocks


def test_tutorial_tests_pass(pytester: pytest.Pytester, scaled):
    """Every test in the tutorial passes with its conftest and ini, run by its command from a checkout."""
    pytester.makeconftest(conftest().text)
    (pytester.path / "pytest.ini").write_text(the_block(PAGE, "ini", "[pytest]\n").text)
    copy_sample_config(pytester.path / "sample_service")
    tests = blocks_with_tests(PAGE)
    for number, block in enumerate(tests):
        pytester.makepyfile(**{f"test_tutorial_{number}": block.text})
    expected = sum(block.test_count for block in tests)
    assert expected >= 10
    args = command("pytest --service-config sample_service/")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=scaled(60))
    result.assert_outcomes(passed=expected)


def test_the_static_config_of_the_tutorial_runs_the_echo_test(pytester: pytest.Pytester, scaled):
    """The tutorial's part of the sample's config is enough for its echo test."""
    pytester.makeconftest(conftest().text)
    pytester.makepyfile(test_echo=echo_test().text)
    config = copy_sample_config(pytester.path / "conf", text=the_block(PAGE, "yaml", "components_manager:\n").text)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--service-config={config}", timeout=scaled(60))
    result.assert_outcomes(passed=1)


def test_your_own_service_by_command_line_and_by_pyproject(pytester: pytest.Pytester, scaled):
    """The last section's command and pyproject run as shown, with path/to/ made real."""
    make_placeholder_service(pytester.path)
    pytester.makeconftest(conftest().text)
    pytester.makepyfile(test_echo=echo_test().text)
    args = command("pytest --service-config path/to/")
    pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=scaled(60)).assert_outcomes(passed=1)
    (pytester.path / "pyproject.toml").write_text(the_block(PAGE, "toml", "[tool.pytest.ini_options]\n").text)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=scaled(60)).assert_outcomes(passed=1)


def test_the_handler_in_essence_echoes_text_and_binary(scaled):
    """The tutorial's aiohttp handler, as shown, echoes a text and a binary message on loopback."""
    from aiohttp import web
    from websockets.asyncio.client import connect

    namespace: dict[str, object] = {}
    exec(compile(handler().text, "tutorial-handler", "exec"), namespace)

    async def exchange() -> list[str | bytes]:
        app = web.Application()
        app.router.add_get("/chat", namespace["chat"])  # type: ignore[arg-type]
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            async with connect(f"ws://127.0.0.1:{site.port}/chat", open_timeout=scaled(10)) as chat:
                await chat.send("hello")
                text = await asyncio.wait_for(chat.recv(), scaled(10))
                await chat.send(b"\x00\x01")
                binary = await asyncio.wait_for(chat.recv(), scaled(10))
                return [text, binary]
        finally:
            await runner.cleanup()

    assert asyncio.run(exchange()) == ["hello", b"\x00\x01"]
