"""The userver tutorial's functional test, as a user copies it: it must pass unchanged.

It carries no asyncio marker (the plugin marks coroutine tests that use its fixtures)
and no docstring, because it is the tutorial's text verbatim.
"""


async def test_echo(websocket_client):
    async with websocket_client.get("chat") as chat:
        await chat.send("hello")
        response = await chat.recv()
        assert response == "hello"
