"""``/private`` (websocket-private-chat-handler): authentication before accepting, against a fake auth service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.sample_service.handler_helpers import FakeAuth, ThreadedServer, log_line, running_sample
from tests.sample_service.sample_helpers import SampleProcess, free_port

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def auth(scaled) -> Iterator[FakeAuth]:
    fake = FakeAuth()
    with ThreadedServer(fake.app, scaled(10)) as server:
        fake.url = server.url("/auth")  # type: ignore[attr-defined]
        yield fake


@pytest.fixture(scope="module")
def service(auth, tmp_path_factory, scaled) -> Iterator[SampleProcess]:
    components = {"websocket-private-chat-handler": {"path": "/private", "auth-url": auth.url, "auth-timeout": "0.5s"}}
    with running_sample(tmp_path_factory.mktemp("private"), components, scaled) as sample:
        yield sample


@pytest.fixture(autouse=True)
def fresh_auth(auth) -> None:
    auth.requests.clear()
    auth.answer = (200, {"user": "alice"})
    auth.delay = 0.0


def private(service: SampleProcess, scaled, query: str = "", headers: dict[str, str] | None = None):
    return connect(
        f"ws://127.0.0.1:{service.port}/private{query}",
        additional_headers=headers,
        open_timeout=scaled(10),
        close_timeout=scaled(5),
    )


async def rejected(service, scaled, query: str = "", headers: dict[str, str] | None = None) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as caught:
        async with private(service, scaled, query, headers):
            pass
    return caught.value


async def test_token_in_query_accepts_and_echoes_with_the_user_name(service, auth, scaled):
    """A token the auth service accepts opens the chat; text comes back as 'NAME: text', binary unchanged."""
    async with private(service, scaled, "?token=secret-1") as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "alice: hello"
        await ws.send(b"\x00\x01")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == b"\x00\x01"
    assert auth.requests == [{"body": {"token": "secret-1"}, "content_type": "application/json"}]


async def test_bearer_header_carries_the_token(service, auth, scaled):
    """Without a token parameter, 'Authorization: Bearer TOKEN' is used; the name comes from the answer."""
    auth.answer = (200, {"user": "bob"})
    async with private(service, scaled, headers={"Authorization": "Bearer tok-2"}) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), scaled(5)) == "bob: hi"
    assert [r["body"] for r in auth.requests] == [{"token": "tok-2"}]


async def test_no_token_is_401_without_calling_upstream(service, auth, scaled):
    """No token (none at all, an empty one, or another auth scheme) gets 401 and no auth request."""
    for query, headers in (("", None), ("?token=", None), ("", {"Authorization": "Basic dXNlcjpwYXNz"})):
        error = await rejected(service, scaled, query, headers)
        assert error.response.status_code == 401
        assert error.response.headers["WWW-Authenticate"] == "Bearer"
    assert auth.requests == []


@pytest.mark.parametrize("status", [401, 403])
async def test_upstream_refusal_is_403(service, auth, scaled, status):
    """The auth service answering 401 or 403 rejects the handshake with 403."""
    auth.answer = (status, {"error": "no"})
    error = await rejected(service, scaled, "?token=bad")
    assert error.response.status_code == 403
    assert len(auth.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [(500, {"error": "boom"}), (200, {"name": "no user key"}), (200, {"user": ""}), (200, ["alice"]), (302, {})],
    ids=["500", "no-user", "empty-user", "not-an-object", "redirect"],
)
async def test_other_answers_are_503_and_logged(service, auth, scaled, answer):
    """Any other answer gives 503 and one WARNING line naming the upstream and the reason."""
    auth.answer = answer
    error = await rejected(service, scaled, "?token=t")
    assert error.response.status_code == 503
    line = log_line(service, f"auth upstream failed url={auth.url} reason=", scaled(5))
    assert "WARNING" in line
    if answer[0] != 200:
        assert f"answered HTTP {answer[0]}" in line
    assert "reason=" in line and "token=t" not in line


async def test_timeout_is_503(service, auth, scaled):
    """No answer within auth-timeout (0.5s here) gives 503 and a log line saying so."""
    auth.delay = 2.0
    error = await rejected(service, scaled, "?token=slow")
    assert error.response.status_code == 503
    service.wait_log("reason=no answer within 0.5s", scaled(5))


async def test_token_is_never_logged(service, scaled):
    """The token appears nowhere in the service log."""
    async with private(service, scaled, "?token=very-secret-token") as ws:
        await ws.send("x")
        await asyncio.wait_for(ws.recv(), scaled(5))
    assert "very-secret-token" not in service.log()
    assert "authenticated" in service.wait_log("user=alice", scaled(5))


async def test_close_message_and_close_codes(service, scaled):
    """On /private too, the text 'close' closes with 1001, and a client's close code is echoed."""
    async with private(service, scaled, "?token=t") as ws:
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), scaled(5))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    async with private(service, scaled, "?token=t") as ws:
        await ws.close(4001, "bye")
    assert ws.close_code == 4001


async def test_refused_connection_is_503(tmp_path, scaled):
    """An auth-url nobody listens on gives 503 and a log line naming the URL and the refusal."""
    url = f"http://127.0.0.1:{free_port()}/auth"
    components = {"websocket-private-chat-handler": {"path": "/private", "auth-url": url}}
    with running_sample(tmp_path, components, scaled) as sample:
        error = await rejected(sample, scaled, "?token=t")
        assert error.response.status_code == 503
        line = log_line(sample, "auth upstream failed", scaled(5))
        assert f"url={url} reason=cannot connect: Connection refused" in line


async def test_without_auth_url_503_says_so(tmp_path, scaled):
    """Without an auth-url the handshake gets 503 naming the missing key, with or without a token."""
    with running_sample(tmp_path, {"websocket-private-chat-handler": {"path": "/private"}}, scaled) as sample:
        for query in ("?token=t", ""):
            error = await rejected(sample, scaled, query)
            assert error.response.status_code == 503
            assert b"auth-url is not configured" in error.response.body
