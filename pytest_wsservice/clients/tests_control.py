"""The service's ``tests-control`` component, as the plugin talks to it.

A service that has a ``tests-control`` component in its static config
(``components_manager.components.tests-control``, with ``path``, and ``load-enabled``
not false) answers on that path::

    POST {"dynamic_config": {"reset": true, "replace": {...}, "set": {...}},
          "flush_logs": true}
    -> 200 {"dynamic_config": {...every current value...}}

with every key optional (``{}`` only reads the values), ``400 {"error": "..."}`` for a
bad request, which then changes nothing, and ``403`` for a peer that is not on loopback.
The bundled sample service implements it (``sample_service/tests_control.py``); a
service in another language that speaks the same JSON works the same way.

:class:`TestsControl` sends those requests: from a coroutine (tests) or blocking, with a
deadline (sync fixtures, which run outside any event loop: the config marker and the
restore after each test). :class:`DynamicConfig` is what the ``dynamic_config`` fixture
hands to a test. Nothing here imports aiohttp until an async request is sent.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServiceControlError, seconds_text
from ..service.handle import base_text
from ..service.hooks import SECRET_HEADER

if TYPE_CHECKING:
    from ssl import SSLContext

    import yarl

    from ..service.handle import ServiceHandle

__all__ = ["COMPONENT", "Applied", "DynamicConfig", "TestsControl"]

#: The component's name in ``components_manager.components``.
COMPONENT = "tests-control"

_MISSING: Any = object()


class TestsControl:
    """Where a service's tests-control endpoint is, or why it has none.

    Build it with :meth:`from_config` or :meth:`for_handle`; it does no I/O until a
    request is sent.

    Args:
        base_url: The service's base URL.
        path: The endpoint's path, or ``None`` when the service has no tests-control.
        timeout: The deadline in seconds for each request.
        config_file: The static config that was looked in, for messages.
        problem: Why there is no endpoint (``path`` is ``None``), for messages: what
            the config "has"; empty when the config is not known at all.
        secret: The config's ``tests-control.secret``, sent in the ``X-Tests-Control-Secret``
            header of every request; ``None`` when the config names none.
    """

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self,
        base_url: yarl.URL,
        path: str | None,
        *,
        timeout: float,
        config_file: Path | str | None = None,
        problem: str = "",
        secret: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.secret = secret
        self.path = path
        self.timeout = timeout
        self.config_file = config_file
        self.problem = problem
        #: The TLS context for an ``https`` service (``for_handle`` sets the run's, with ``--service-tls``).
        self.ssl: SSLContext | None = None

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any] | None,
        base_url: yarl.URL,
        *,
        timeout: float,
        config_file: Path | str | None = None,
    ) -> TestsControl:
        """Find the endpoint in a patched static config (``$vars`` already resolved)."""
        components: Any = None
        if isinstance(config, Mapping):
            manager = config.get("components_manager")
            components = manager.get("components") if isinstance(manager, Mapping) else None
        section = components.get(COMPONENT) if isinstance(components, Mapping) else None
        where = f"components_manager.components.{COMPONENT}"
        path = section.get("path", "/tests/control") if isinstance(section, Mapping) else None
        problem = ""  # what the config "has" that leaves no endpoint; "" for no config at all
        if config is not None and not isinstance(section, Mapping):
            problem = f"has no {where} section"
        elif config is not None and isinstance(section, Mapping) and section.get("load-enabled", True) is False:
            problem = f"has load-enabled: false in its {where} section"
        elif config is not None and not (isinstance(path, str) and path.startswith("/")):
            problem = f"has {where}.path {path!r}, not a URL path such as /tests/control"
        if config is None or problem:
            return cls(base_url, None, timeout=timeout, config_file=config_file, problem=problem)
        # userver's tests-control path is /tests/{action}; this protocol's action is "control".
        assert isinstance(path, str)  # checked above
        assert isinstance(section, Mapping)
        secret = section.get("secret")
        return cls(
            base_url,
            path.replace("{action}", "control"),
            timeout=timeout,
            config_file=config_file,
            secret=secret if isinstance(secret, str) and secret else None,
        )

    @property
    def headers(self) -> dict[str, str]:
        """The headers of every request: JSON, and the secret when the config names one."""
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        return headers

    @classmethod
    def for_handle(
        cls,
        handle: ServiceHandle,
        *,
        timeout: float,
        config: Mapping[str, Any] | None = None,
        config_file: Path | str | None = None,
    ) -> TestsControl:
        """The endpoint of the service behind ``handle`` (its config, else ``config``)."""
        running_config = handle.config if handle.config is not None else config
        file = config_file or handle.config_path
        control = cls.from_config(running_config, handle.base_url, timeout=timeout, config_file=file)
        control.ssl = handle.tls.client_context() if handle.tls is not None else None
        return control

    @property
    def url(self) -> str:
        """The endpoint's full URL."""
        return base_text(self.base_url) + (self.path or "").lstrip("/")

    def require(self, feature: str, *, hint: str = "") -> None:
        """Raise the one-paragraph error for a missing component, if it is missing.

        Args:
            feature: Who needs tests-control, as the user wrote it: ``"the dynamic_config fixture"``.
            hint: An extra sentence, such as a way to do without the component.

        Raises:
            ServiceControlError: The service has no tests-control endpoint.
        """
        if self.path is not None:
            return
        extra = f" {hint}" if hint else ""
        if not self.problem:
            raise ServiceControlError(
                f"{feature} needs the service's {COMPONENT} component, and where it is comes from the service's static "
                f"config, which is not known here: pytest-wsservice did not start this service (--service-url).{extra}"
            )
        where = "the service's static config"
        if self.config_file:
            where = f"the static config the service runs with ({self.config_file})"
        raise ServiceControlError(
            f"{feature} needs the service's {COMPONENT} component, but {where} {self.problem}. "
            f"Add it under components_manager.components in the file you pass with --service-config: "
            f"'{COMPONENT}: {{path: /tests/control, method: POST, load-enabled: true}}' (the bundled "
            f"sample_service/static_config.yaml has one). It answers only loopback peers; a service of your own "
            f"must implement the JSON protocol described in docs/dynamic-config.md.{extra}"
        )

    # ----------------------------------------------------------------- requests

    async def request(self, body: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """POST ``body`` from a coroutine; return the current dynamic config values.

        Args:
            body: The request, for example ``{"flush_logs": True}``.
            what: What the request does, for messages: ``"setting WEBSOCKET_ECHO_PREFIX"``.

        Raises:
            ServiceControlError: The component is missing, or the answer is not 200 with
                the values.
            ServiceRequestTimeout: No answer within the deadline.
            aiohttp.ClientConnectionError: The service cannot be reached.
        """
        from .http import ServiceClient

        self.require(what)
        client = ServiceClient(self.base_url, timeout=self.timeout, ssl=self.ssl)
        response = await client.post(self.path or "", json=dict(body), headers=self.headers)
        return self._values(response.status, response.content, what)

    def request_blocking(self, body: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """POST ``body`` and wait for the answer, blocking; for sync code outside an event loop.

        The deadline covers connecting, sending and reading the whole answer.

        Raises:
            ServiceControlError: As :meth:`request`, and when no answer comes in time.
            ConnectionRefusedError: Nothing listens on the service's port any more.
        """
        import http.client
        import time

        self.require(what)
        url = self.base_url
        host = url.host or "127.0.0.1"
        data = json.dumps(dict(body)).encode()
        deadline = time.monotonic() + self.timeout
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            connection = http.client.HTTPSConnection(host, url.port, timeout=self.timeout, context=self.ssl)
        else:
            connection = http.client.HTTPConnection(host, url.port, timeout=self.timeout)
        target = self.base_url.path.rstrip("/") + "/" + (self.path or "").lstrip("/")
        try:
            connection.request("POST", target, body=data, headers=self.headers)
            if connection.sock is not None:  # each socket wait gets what is left of the deadline
                connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
            response = connection.getresponse()
            payload = response.read()
            status = response.status
        except TimeoutError:
            raise ServiceControlError(
                f"{self.url} gave no complete answer within {seconds_text(self.timeout)} while {what}; "
                "the service is up but not answering tests-control in time."
            ) from None
        finally:
            connection.close()
        return self._values(status, payload, what)

    def _values(self, status: int, payload: bytes, what: str) -> dict[str, Any]:
        """The ``dynamic_config`` of a 200 answer; a ServiceControlError for anything else."""
        try:
            answer = json.loads(payload) if payload else None
        except ValueError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        preview = payload[:300].decode("utf-8", "replace")
        if status == 200 and isinstance(answer, dict) and isinstance(answer.get("dynamic_config"), dict):
            values: dict[str, Any] = answer["dynamic_config"]
            return values
        if status == 200:
            problem = f"answered 200 without a 'dynamic_config' object: {preview!r}"
        elif status == 403:
            problem = (
                f"refused it (403: {error or preview}). tests-control answers only loopback peers: test a "
                "service that runs on this machine, on 127.0.0.1 or ::1"
            )
        elif status in (404, 405):
            problem = (
                f"answered {status}: the service does not serve tests-control there, although its static config "
                f"names {self.path!r} (components_manager.components.{COMPONENT}.path). Does it implement the "
                "protocol in docs/dynamic-config.md?"
            )
        elif status == 400:
            problem = f"refused it: {error or preview}"
        else:
            problem = f"answered {status}: {error or preview!r}"
        raise ServiceControlError(f"tests-control at {self.url} {problem} (while {what}).", status=status)

    def __repr__(self) -> str:
        return f"<TestsControl {self.url if self.path else 'missing: ' + self.problem}>"


class Applied:
    """What :meth:`DynamicConfig.set_values` returns: nothing to use, but awaitable, so that the
    older ``await dynamic_config.set_values(...)`` keeps working (the values are set already)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return None
        yield  # a generator: makes this awaitable

    def __repr__(self) -> str:
        return "<dynamic config values applied>"


class DynamicConfig:
    """The service's dynamic config, for one test: what the ``dynamic_config`` fixture returns.

    ::

        async def test_prefix(dynamic_config, websocket_client):
            dynamic_config.set_values({'WEBSOCKET_ECHO_PREFIX': '> '})
            assert dynamic_config.get('WEBSOCKET_ECHO_PREFIX') == '> '
            async with websocket_client.get('chat') as chat:
                await chat.send('hi')
                assert await chat.recv() == '> hi'

    The values the service had when the test started are put back after it, whatever
    happened in it.

    Args:
        control: The service's tests-control endpoint.
    """

    def __init__(self, control: TestsControl) -> None:
        self._control = control
        self._values: dict[str, Any] = {}
        self._original: dict[str, Any] | None = None
        self._changed = False

    def load(self) -> None:
        """Read the current values (blocking, with the deadline): the test's starting point.

        Raises:
            ServiceControlError: As :meth:`TestsControl.request_blocking`.
        """
        self._values = self._control.request_blocking({}, what="reading the dynamic config")
        self._original = dict(self._values)

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """Return the value of ``name`` as the service has it now.

        Args:
            name: A dynamic config name, such as ``'WEBSOCKET_ECHO_PREFIX'``.
            default: Returned when the service has no such value; without it, that is an error.

        Raises:
            KeyError: The service has no value ``name`` and no default was given; the
                message lists the names it has.
        """
        try:
            return self._values[name]
        except KeyError:
            if default is not _MISSING:
                return default
            raise KeyError(
                f"the service has no dynamic config value {name!r}; it has: {', '.join(sorted(self._values)) or 'none'}"
            ) from None

    def get_values(self) -> dict[str, Any]:
        """Return a copy of every value, by name."""
        return dict(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def set_values(self, values: Mapping[str, Any]) -> Applied:
        """Change some values in the running service; they are in effect when this returns.

        Sync, as in pytest_userver: ``dynamic_config.set_values({...})``. The request is sent
        at once, blocking, with the client's deadline (the service runs in its own process,
        so a short blocking request on loopback is safe inside a test's event loop). The
        result can also be awaited, so ``await dynamic_config.set_values({...})``, this
        plugin's older form, works the same.

        Only the names given change. The service checks the names and JSON types and
        applies all or none of them.

        Args:
            values: Names to new values (JSON-serializable).

        Raises:
            ServiceControlError: The service refused the values (an unknown name, a
                wrong type: the message says which) or tests-control is missing.
            TypeError: ``values`` is not a mapping of names to JSON values.
        """
        self.apply_blocking(values, what="dynamic_config.set_values()")
        return Applied()

    def set(self, **values: Any) -> Applied:
        """``set_values`` by keyword: ``dynamic_config.set(WEBSOCKET_ECHO_PREFIX='> ')``, as in pytest_userver."""
        return self.set_values(values)

    def apply_blocking(self, values: Mapping[str, Any], *, what: str) -> None:
        """Set ``values`` (blocking); ``what`` names the caller in messages (the ``config`` marker)."""
        body = self._body(values, what)
        if body is None:
            return
        self._changed = True  # before sending: a request cut short may still have applied
        self._values = self._control.request_blocking(body, what=f"setting {', '.join(values)} for {what}")

    def restore(self) -> None:
        """Put back the values of the test's start, if anything was changed (blocking).

        A service that is gone (nothing listens on its port) needs nothing put back:
        the one that replaces it starts from its fallback values.

        Raises:
            ServiceControlError: The service is there but did not take the old values back.
        """
        if not self._changed or self._original is None:
            return
        try:
            self._values = self._control.request_blocking(
                {"dynamic_config": {"replace": self._original}}, what="restoring the dynamic config after the test"
            )
        except ConnectionRefusedError:
            return
        except ServiceControlError as error:
            message = f"{error} Later tests may see this test's dynamic config values."
            raise ServiceControlError(message, status=error.status) from None
        self._changed = False

    @staticmethod
    def _body(values: Mapping[str, Any], what: str) -> dict[str, Any] | None:
        if not isinstance(values, Mapping):
            raise TypeError(
                f"{what} takes a mapping of names to values, such as {{'WEBSOCKET_ECHO_PREFIX': '> '}}, "
                f"not a {type(values).__name__}"
            )
        if not values:
            return None
        for name, value in values.items():
            if not isinstance(name, str):
                raise TypeError(f"{what}: dynamic config names are strings, not {name!r}")
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{what}: the value of {name} cannot be sent as JSON ({exc})") from None
        return {"dynamic_config": {"set": dict(values)}}

    def __repr__(self) -> str:
        return f"<DynamicConfig {self._values!r}>"
