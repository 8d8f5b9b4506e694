"""The mocked time: what "now" is for the service while a test pins it.

tests-control's ``mock_now`` sets it (testsuite's ``mocked_time`` fixture sends it through
pytest_userver's ``update_server_state``); ``"mock_now": null`` goes back to the real clock.
Code that should follow the mocked time reads ``request.app[MOCKED_TIME].now()`` instead of
``datetime.now(timezone.utc)``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

__all__ = ["MOCKED_TIME", "MockedTime", "parse_time"]

# testsuite's utils.timestring writes '%Y-%m-%dT%H:%M:%S.%f+0000'; Python 3.10's
# fromisoformat() does not read '+0000' or 'Z', so these are tried after it.
_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z")


def parse_time(text: str) -> datetime:
    """An aware datetime from an ISO 8601 time such as testsuite sends; no zone means UTC (as in userver).

    Raises:
        ValueError: ``text`` is not such a time.
    """
    value: datetime | None = None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for form in _FORMATS:
            try:
                value = datetime.strptime(text, form)
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(f"expected an ISO 8601 time such as '2024-01-31T12:00:00+00:00', got {text[:60]!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class MockedTime:
    """The service's clock: the real time, or the time a test set with ``mock_now``."""

    __slots__ = ("_now",)

    def __init__(self) -> None:
        self._now: datetime | None = None

    @property
    def is_mocked(self) -> bool:
        """Whether a test has set the time."""
        return self._now is not None

    def set(self, now: datetime | None) -> None:
        """Pin "now" to ``now`` (aware; naive means UTC), or unpin it with ``None``."""
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        self._now = now

    def now(self) -> datetime:
        """The mocked time while one is set, else the real time; always aware, in UTC when real."""
        return self._now if self._now is not None else datetime.now(timezone.utc)


#: The application's :class:`MockedTime`; always present, the real clock until mocked.
MOCKED_TIME: web.AppKey[MockedTime] = web.AppKey("mocked_time", MockedTime)
