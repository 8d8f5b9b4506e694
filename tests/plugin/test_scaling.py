"""Scaling out: tests that share a marker config grouped for --dist loadgroup, and CI shards with pytest-split."""

from __future__ import annotations

import re
import textwrap

import pytest

from tests.plugin.plugin_helpers import TUTORIAL_TEST

MARKED_SUITE = textwrap.dedent(
    """
    import pytest

    def small_frames(config, config_vars):
        config["components_manager"]["components"]["websocket-handler"]["fragment-size"] = 100

    def big_frames(config, config_vars):
        config["components_manager"]["components"]["websocket-handler"]["fragment-size"] = 50000

    async def echo(websocket_client):
        async with websocket_client.get("chat") as chat:
            await chat.send("x")
            assert await chat.recv() == "x"

    {tests}
    """
)


def _suite(groups: int, per_group: int) -> str:
    tests = []
    hooks = ["small_frames", "big_frames"]
    for index in range(groups * per_group):
        hook = hooks[index % groups]
        tests.append(
            f"@pytest.mark.wsservice_config_hooks.with_args({hook})\n"
            f"async def test_marked_{index}(websocket_client, request):\n"
            f"    await echo(websocket_client)\n"
        )
        tests.append(f"async def test_plain_{index}(websocket_client):\n    await echo(websocket_client)\n")
    return MARKED_SUITE.replace("{tests}", "\n".join(tests))


def test_loadgroup_groups_tests_by_their_marker_config(project: pytest.Pytester) -> None:
    """Under --dist loadgroup each marked test carries an xdist_group named after its hooks; plain tests none;
    without loadgroup, nothing is grouped."""
    project.makeconftest(
        textwrap.dedent(
            """
            pytest_plugins = ['pytest_wsservice']

            def pytest_collection_finish(session):
                for item in session.items:
                    mark = item.get_closest_marker("xdist_group")
                    print(f"GROUP {item.name} {mark.kwargs['name'] if mark else '-'}")
            """
        )
    )
    project.makepyfile(test_groups=_suite(2, 2))
    grouped = project.runpytest_inprocess("-p", "xdist", "--dist", "loadgroup", "--co", "-q", "-s")
    grouped.stdout.fnmatch_lines(
        [
            "GROUP test_marked_0 wsservice-config:test_groups.small_frames",
            "GROUP test_plain_0 -",
            "GROUP test_marked_1 wsservice-config:test_groups.big_frames",
            "GROUP test_plain_1 -",
            "GROUP test_marked_2 wsservice-config:test_groups.small_frames",
        ]
    )
    plain = project.runpytest_inprocess("--co", "-q", "-s")
    plain.stdout.fnmatch_lines(["GROUP test_marked_0 -"])


@pytest.mark.skipif(
    tuple(int(part) for part in pytest.__version__.split(".")[:2]) >= (9, 2),
    reason="pytest-xdist (3.8) --dist loadgroup does not group on pytest 9.2: it renames item._nodeid, which "
    "pytest 9.2 no longer reads (measured in docs/scaling.md); the lowest-versions job (pytest 8.2) runs this",
)
def test_loadgroup_cuts_restarts(project: pytest.Pytester) -> None:
    """With two marker configs spread over a suite, loadgroup needs far fewer restarts than load."""

    def restarts(dist: str) -> int:
        result = project.runpytest_subprocess("-n", "2", "--dist", dist, "-p", "no:cacheprovider")
        result.assert_outcomes(passed=24)
        match = re.search(r"the service was restarted (\d+) times", result.stdout.str())
        return int(match.group(1)) if match else 0

    project.makepyfile(test_groups=_suite(2, 6))
    spread, grouped = restarts("load"), restarts("loadgroup")
    assert grouped <= 4 < spread, (grouped, spread)


def test_two_pytest_split_shards_run_the_whole_suite(project: pytest.Pytester) -> None:
    """CI sharding with pytest-split: each shard is its own pytest run with its own service, and together they
    run every test once."""
    pytest.importorskip("pytest_split", reason="pytest-split is in the test extra")
    for index in range(4):
        project.makepyfile(**{f"test_shard_{index}": TUTORIAL_TEST})
    ran: list[str] = []
    for group in (1, 2):
        result = project.runpytest_subprocess("--splits", "2", "--group", str(group), "-v", "-p", "no:randomly")
        result.assert_outcomes(passed=2)
        ran += re.findall(r"(test_shard_\d\.py)::test_echo PASSED", result.stdout.str())
    assert sorted(ran) == [f"test_shard_{index}.py" for index in range(4)]
