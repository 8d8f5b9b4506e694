"""The ``handler-chat-page`` component: a small HTML chat client at ``GET /`` (or its ``path``).

One self-contained page, no external assets: pick the echo chat or the room, give a name
(for the room), connect, type, and see the messages. The page builds its ``ws://`` or
``wss://`` URL from ``location``, so it works behind any host and port. Messages are
shown with ``textContent``, never as HTML. The answer carries a Content-Security-Policy
that allows exactly the page's own inline script and style and WebSockets to its own origin.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence

from aiohttp import web

__all__ = ["ChatPage", "render_page"]

_STYLE = """
body { font: 15px system-ui, sans-serif; margin: 2em auto; max-width: 40em; padding: 0 1em; }
form { display: flex; gap: .5em; margin: .5em 0; }
input[type=text] { flex: 1; }
#log { border: 1px solid #999; height: 20em; overflow-y: auto; padding: .5em; white-space: pre-wrap; }
.me { color: #555; } .info { color: #777; font-style: italic; }
"""

_SCRIPT = """
"use strict";
const $ = (id) => document.getElementById(id);
const log = $("log");
let ws = null;
function show(text, kind) {
  const line = document.createElement("div");
  line.className = kind || "";
  line.textContent = text;
  log.appendChild(line);
  log.scrollTop = log.scrollHeight;
}
function setConnected(open) {
  $("connect").textContent = open ? "Disconnect" : "Connect";
  $("text").disabled = $("send").disabled = !open;
  $("path").disabled = $("user").disabled = open;
}
$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  if (ws) { ws.close(1000); return; }
  const option = $("path").selectedOptions[0];
  let url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + option.value;
  const user = $("user").value.trim();
  if (user && option.dataset.user === "yes") url += "?user=" + encodeURIComponent(user);
  show("connecting to " + url, "info");
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  ws = socket;
  socket.onopen = () => { show("connected", "info"); setConnected(true); $("text").focus(); };
  socket.onmessage = (event) => show(typeof event.data === "string" ? event.data
    : "[binary, " + event.data.byteLength + " bytes]");
  socket.onclose = (event) => {
    show("closed: " + event.code + (event.reason ? " " + event.reason : ""), "info");
    if (ws === socket) { ws = null; setConnected(false); }
  };
});
$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  ws.send($("text").value);
  show("> " + $("text").value, "me");
  $("text").value = "";
});
setConnected(false);
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


#: Allows the page's own inline script and style only, and connections to its own origin.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_csp_hash(_SCRIPT)}; style-src {_csp_hash(_STYLE)}; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def render_page(paths: Sequence[tuple[str, str, bool]]) -> str:
    """The page's HTML for the WebSocket ``paths`` it offers: (label, path, takes ``?user=``)."""
    options = "\n".join(
        f'      <option value="{html.escape(path)}" data-user="{"yes" if user else "no"}">'
        f"{html.escape(label)} ({html.escape(path)})</option>"
        for label, path, user in paths
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>sample_service chat</title>
  <style>{_STYLE}</style>
</head>
<body>
  <h1>sample_service chat</h1>
  <form id="join">
    <select id="path" aria-label="path">
{options}
    </select>
    <input id="user" type="text" placeholder="your name (room only)" aria-label="user name" maxlength="100">
    <button id="connect" type="submit">Connect</button>
  </form>
  <div id="log" role="log" aria-live="polite"></div>
  <form id="say">
    <input id="text" type="text" placeholder="message" aria-label="message" autocomplete="off">
    <button id="send" type="submit">Send</button>
  </form>
  <script>{_SCRIPT}</script>
</body>
</html>
"""


class ChatPage:
    """``GET``: the chat page for ``paths`` (rendered once, at start)."""

    def __init__(self, paths: Sequence[tuple[str, str, bool]]) -> None:
        self.body = render_page(paths).encode()

    async def __call__(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.body,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-cache",
            },
        )
