"""``pytest --cov=sample_service`` measures the spawned sample service, with no configuration."""

from __future__ import annotations

import re

import pytest

from tests.plugin.plugin_helpers import TUTORIAL_TEST

pytest.importorskip("pytest_cov", reason="the test extra installs pytest-cov")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_cov_reports_the_services_modules(project, scaled, workers):
    project.makepyfile(test_echo=TUTORIAL_TEST)
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--cov=sample_service", "--cov-report=term", *workers, timeout=scaled(180)
    )
    result.assert_outcomes(passed=1)
    report = result.stdout.str()
    for module in ("chat.py", "app.py"):
        match = re.search(rf"sample_service/{module}\s+(\d+)\s+(\d+)\s+(\d+)%", report)
        assert match, report
        statements, missed, _ = map(int, match.groups())
        assert missed < statements, f"{module} reported as not executed:\n{report}"
    assert "module-not-imported" not in report
    assert "never imported" not in report
