"""USERVER_CONFIG_HOOKS in a conftest is taken like WSSERVICE_CONFIG_HOOKS (issue 15, item 5)."""
# ruff: noqa: E501  (inner conftests and expected messages are kept on one line)

from __future__ import annotations

CONFIG = "components_manager:\n  components:\n    chat:\n      max-remote-payload: 1\n"


def test_userver_config_hooks_run_like_ours_in_load_order(project):
    """Callables and fixture names in USERVER_CONFIG_HOOKS run after the plugin's hooks, in conftest load order,
    next to WSSERVICE_CONFIG_HOOKS of the same module; a subdirectory's conftest runs after the root's."""
    project.makeconftest(
        """
        import pytest

        pytest_plugins = ['pytest_wsservice']

        def ours(config, config_vars):
            config['order'] = config.get('order', []) + ['ours']

        def theirs(config, config_vars):
            config['order'] = config.get('order', []) + ['userver callable']

        @pytest.fixture(scope='session')
        def userver_config_from_fixture():
            def hook(config, config_vars):
                config['order'] = config.get('order', []) + ['userver fixture']
                config_vars['payload'] = 7
            return hook

        WSSERVICE_CONFIG_HOOKS = [ours]
        USERVER_CONFIG_HOOKS = [theirs, 'userver_config_from_fixture']
        """
    )
    sub = project.mkpydir("sub")
    (sub / "conftest.py").write_text(
        "def later(config, config_vars):\n    config['order'] = config.get('order', []) + ['sub']\n\nUSERVER_CONFIG_HOOKS = [later]\n"
    )
    project.makefile(
        ".yaml", static="components_manager:\n  components:\n    chat:\n      max-remote-payload: $payload\n"
    )
    (sub / "test_it.py").write_text(
        "def test_it(service_config):\n"
        "    assert service_config['order'] == ['ours', 'userver callable', 'userver fixture', 'sub']\n"
        "    assert service_config['components_manager']['components']['chat']['max-remote-payload'] == 7\n"
    )
    project.runpytest_inprocess("--service-config=static.yaml").assert_outcomes(passed=1)


def test_one_list_under_both_names_runs_once(project):
    """A conftest that binds the same list to both names (a suite shared by both plugins) runs its hooks once."""
    project.makeconftest(
        """
        pytest_plugins = ['pytest_wsservice']

        def count(config, config_vars):
            config['count'] = config.get('count', 0) + 1

        USERVER_CONFIG_HOOKS = WSSERVICE_CONFIG_HOOKS = [count]
        """
    )
    project.makefile(".yaml", static=CONFIG)
    project.makepyfile("def test_it(service_config):\n    assert service_config['count'] == 1\n")
    project.runpytest_inprocess("--service-config=static.yaml").assert_outcomes(passed=1)


def test_a_bad_userver_hook_is_named_as_such(project):
    """An error in USERVER_CONFIG_HOOKS names that list and its conftest, never silently ignored."""
    project.makeconftest("pytest_plugins = ['pytest_wsservice']\nUSERVER_CONFIG_HOOKS = ['no_such_fixture']\n")
    project.makefile(".yaml", static=CONFIG)
    project.makepyfile("def test_it(service_config):\n    pass\n")
    result = project.runpytest_inprocess("--service-config=static.yaml")
    result.assert_outcomes(errors=1)
    conftest = project.path / "conftest.py"
    result.stdout.fnmatch_lines(
        [f"*USERVER_CONFIG_HOOKS in {conftest} names fixture 'no_such_fixture', which does not exist; *"]
    )
