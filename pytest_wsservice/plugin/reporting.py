"""What the plugin adds to pytest's reports.

Short error reports for our fixtures' failures, the service's log lines in a failed
test's report, a hint for a misused ``wsservice_config_hooks`` marker, and the summary
of service restarts (gathered from xdist workers too).
Loaded as a plugin module by ``pytest_wsservice``; it imports nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..service.redact import Redactor

from ..errors import ServiceStartError, WsServiceError
from .config import CONFIG_HOOKS_MARKER
from .settings import worker_id
from .state import LOG_START, REDACTOR, STATE, TRANSCRIPTS

#: id() of each of our errors reported so far -> (the error, kept so the id stays unique; the first test's id).
FIRST_REPORTS = pytest.StashKey[dict[int, tuple[BaseException, str]]]()
#: What was found wrong with the service's log during the run (a full disk), for the summary.
LOG_NOTES = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # A failure of our fixtures is explained by its message; the traceback through the
    # plugin's internals only hides it. Test bodies keep their tracebacks.
    if call.when != "call" and call.excinfo is not None and isinstance(call.excinfo.value, WsServiceError):
        error: BaseException = call.excinfo.value
        # A session fixture's error is raised again for every later test: quote it once.
        first = item.config.stash.setdefault(FIRST_REPORTS, {}).setdefault(id(error), (error, item.nodeid))[1]
        if first != item.nodeid:
            from ..service.logquote import refer_to

            error = refer_to(error, first)
        report.longrepr = f"{type(error).__module__}.{type(error).__name__}: {error}"
    # A failed test's report shows the service's log lines written since the test began:
    # the offset was taken when service_handle was set up; the file is read only now.
    start = item.stash.get(LOG_START, None)
    quoted = call.excinfo is not None and isinstance(call.excinfo.value, ServiceStartError)  # has the tail
    if report.failed and start is not None and not quoted:
        from ..service.logfile import read_log_since

        text = read_log_since(*start)
        if text:
            report.sections.append((f"Captured service log {report.when}", text))
    # ... and the transcripts of the WebSocket connections it opened, bounded.
    transcripts = item.stash.get(TRANSCRIPTS, None)
    if report.failed and transcripts:
        title = "WebSocket transcript" if report.when == "call" else f"WebSocket transcript {report.when}"
        report.sections.append((title, transcripts.format()))
    if report.failed and start is not None:
        from ..service.logwrite import disk_full_note

        note = disk_full_note(start[0])
        if note is not None:  # the log is missing lines: say so in the report and the summary
            report.sections.append(("wsservice: the service's log is incomplete", note))
            item.config.stash.setdefault(LOG_NOTES, []).append(note)
    redactor = item.config.stash.get(REDACTOR, None)
    if report.failed and redactor:
        _redact(report, redactor)
    return report


def _redact(report: pytest.TestReport, redactor: Redactor) -> None:
    """Name the values of config vars (and the tests-control secret) in a failed report, never show them."""
    text = str(report.longrepr)
    redacted = redactor.apply(text)
    if redacted != text:
        report.longrepr = redacted  # only then: a structured traceback keeps its form otherwise
    report.sections = [(title, redactor.apply(content)) for title, content in report.sections]


_WITH_ARGS_HINT = (
    f"pytest takes @pytest.mark.{CONFIG_HOOKS_MARKER}(f) with a single plain function as decorating f, not as the "
    f"marker's argument; write @pytest.mark.{CONFIG_HOOKS_MARKER}.with_args(f) (or name a fixture that returns "
    "the hook)."
)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    # The one way to get the marker wrong that pytest reports as a puzzling TypeError.
    # Python 3.10 shows the `def` line, not the decorator, so look in the module too.
    if (
        report.failed
        and "TypeError" in str(report.longrepr)
        and (f"{CONFIG_HOOKS_MARKER}(" in str(report.longrepr) or f"{CONFIG_HOOKS_MARKER}(" in _source_of(collector))
    ):
        report.sections.append(("wsservice", _WITH_ARGS_HINT))
    return report


def _source_of(collector: pytest.Collector) -> str:
    path = getattr(collector, "path", None)
    if path is None or path.suffix != ".py":
        return ""
    try:
        text: str = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text


# --------------------------------------------------------------------------- summary


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    _summarize_log_notes(terminalreporter, config, state)
    by_process = dict(state.worker_restarts)
    if state.services is not None and state.services.restarts:
        by_process[""] = state.services.restarts
    count = sum(len(reasons) for reasons in by_process.values())
    if not count:
        return
    terminalreporter.write_sep("-", "wsservice")
    times = "once" if count == 1 else f"{count} times"
    workers = [name for name in sorted(by_process) if name]
    where = f" (in {', '.join(f'{name}: {len(by_process[name])}' for name in workers)})" if workers else ""
    terminalreporter.write_line(f"the service was restarted {times}{where}:")
    lines = [f"  {name + ': ' if name else ''}{reason}" for name in sorted(by_process) for reason in by_process[name]]
    for line in lines[:20]:
        terminalreporter.write_line(line)
    if len(lines) > 20:
        terminalreporter.write_line(f"  ... and {len(lines) - 20} more")


def _summarize_log_notes(terminalreporter: Any, config: pytest.Config, state: Any) -> None:
    seen: list[str] = config.stash.get(LOG_NOTES, [])
    notes = list(dict.fromkeys(seen))
    if not notes and state.services is not None:
        from ..service.logwrite import disk_full_note

        note = disk_full_note(state.services.recipe.log_path)
        notes = [note] if note is not None else []
    if notes:
        terminalreporter.write_sep("-", "wsservice: the service's log is incomplete")
        for note in notes:
            terminalreporter.write_line(note)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # In an xdist worker: hand the restart reasons to the controller's summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    state = session.config.stash.get(STATE, None)
    if workeroutput is not None and state is not None and state.services is not None:
        workeroutput["wsservice_restarts"] = list(state.services.restarts)
        workeroutput["wsservice_worker"] = worker_id(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    # pytest-xdist, in the controller: a worker finished.
    restarts = (getattr(node, "workeroutput", None) or {}).get("wsservice_restarts")
    if restarts:
        worker = node.workeroutput.get("wsservice_worker") or "?"
        node.config.stash[STATE].worker_restarts[worker] = list(restarts)
