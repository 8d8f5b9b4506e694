"""Small real clients for the mockserver unit tests."""

from __future__ import annotations

from typing import Any

import aiohttp


async def fetch(method: str, url: str, **kwargs: Any) -> tuple[int, bytes, dict[str, str]]:
    """Send one request with a fresh aiohttp session; return status, body and headers."""
    async with aiohttp.ClientSession() as client, client.request(method, url, **kwargs) as response:
        return response.status, await response.read(), dict(response.headers)


async def fetch_json(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """Send one request and parse the JSON answer."""
    async with aiohttp.ClientSession() as client, client.request(method, url, **kwargs) as response:
        return response.status, await response.json(content_type=None)
