"""Config hooks through the plugin: the service_config_hooks fixture and WSSERVICE_CONFIG_HOOKS."""
# ruff: noqa: E501  (long lines are expected messages and inner test sources, kept verbatim)

from __future__ import annotations

import pytest

ORDER_CONFTEST = """
import pytest

pytest_plugins = ['pytest_wsservice']


def record(name):
    def hook(config, config_vars):
        config.setdefault("order", []).append(name)
        # Every user hook runs after the plugin's own: the port is already patched.
        config["seen_port"] = config["components_manager"]["components"]["server"]["listener"]["port"]
    hook.__qualname__ = name
    return hook


@pytest.fixture(scope="session")
def service_config_hooks(service_config_hooks):
    return service_config_hooks + [record("fixture_override"), "named_hook"]


@pytest.fixture(scope="session")
def named_hook():
    return record("named_in_fixture_list")


@pytest.fixture(scope="session")
def module_list_hook():
    return record("named_in_module_list")


WSSERVICE_CONFIG_HOOKS = [record("module_list_callable"), "module_list_hook"]
"""


def test_hook_order(project):
    """Hooks run in the documented order: plugin's own, service_config_hooks additions, then WSSERVICE_CONFIG_HOOKS."""
    project.makeconftest(ORDER_CONFTEST)
    project.makepyfile(
        other_plugin="""
        def late(config, config_vars):
            config.setdefault("order", []).append("plugin_module")

        WSSERVICE_CONFIG_HOOKS = [late]
        """
    )
    project.mkdir("sub")
    project.makepyfile(
        **{
            "sub/conftest": """
            def sub_hook(config, config_vars):
                config.setdefault("order", []).append("sub_conftest")

            WSSERVICE_CONFIG_HOOKS = (sub_hook,)
            """,
            "sub/test_order": """
            def test_it(service_config, service_port):
                assert service_config["order"] == [
                    "fixture_override", "named_in_fixture_list",
                    "plugin_module", "module_list_callable", "named_in_module_list", "sub_conftest",
                ]
                assert service_config["seen_port"] == service_port
            """,
        }
    )
    project.syspathinsert()
    project.runpytest_inprocess("-p", "other_plugin").assert_outcomes(passed=1)


def test_override_replaces_the_plugins_own_hooks(project):
    """Overriding service_config_hooks without requesting the original drops the plugin's own hooks."""
    project.makeconftest(
        """
        import pytest
        pytest_plugins = ['pytest_wsservice']

        @pytest.fixture(scope="session")
        def service_config_hooks():
            return []
        """
    )
    project.makepyfile(
        """
        def test_it(service_config, service_config_yaml):
            components = service_config["components_manager"]["components"]
            written = service_config_yaml["components_manager"]["components"]
            assert components["server"]["listener"] == written["server"]["listener"]  # no PatchListener
            assert components["logging"] == written["logging"]  # no PatchDefaultLogger
            assert components["tests-control"] == written["tests-control"]  # no PatchTestsControl
        """
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_hook_can_set_a_var(project):
    """A hook may define a config var that the config refers to; it is resolved after all hooks."""
    project.makeconftest(
        """
        pytest_plugins = ['pytest_wsservice']

        def set_payload(config, config_vars):
            config_vars["payload"] = 64

        WSSERVICE_CONFIG_HOOKS = [set_payload]
        """
    )
    project.makefile(
        ".yaml", static="components_manager:\n  components:\n    chat:\n      max-remote-payload: $payload\n"
    )
    project.makepyfile(
        """
        def test_it(service_config):
            assert service_config["components_manager"]["components"]["chat"]["max-remote-payload"] == 64
        """
    )
    project.runpytest_inprocess("--service-config=static.yaml").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("conftest", "message"),
    [
        (
            "def broken(config, config_vars):\n    raise ValueError('no listener here')\nWSSERVICE_CONFIG_HOOKS = [broken]\n",
            "config hook conftest.broken (in WSSERVICE_CONFIG_HOOKS in {conftest}) failed on static config *: ValueError: no listener here",
        ),
        (
            "WSSERVICE_CONFIG_HOOKS = ['no_such_fixture']\n",
            "WSSERVICE_CONFIG_HOOKS in {conftest} names fixture 'no_such_fixture', which does not exist; *",
        ),
        (
            "import pytest\n@pytest.fixture(scope='session')\ndef not_a_hook():\n    return 42\nWSSERVICE_CONFIG_HOOKS = ['not_a_hook']\n",
            "WSSERVICE_CONFIG_HOOKS in {conftest} names fixture 'not_a_hook', which returned a int; *",
        ),
        (
            "WSSERVICE_CONFIG_HOOKS = [42]\n",
            "WSSERVICE_CONFIG_HOOKS in {conftest} holds a int (42); each entry should be a callable *",
        ),
        (
            "def hook(config, config_vars):\n    pass\nWSSERVICE_CONFIG_HOOKS = hook\n",
            "WSSERVICE_CONFIG_HOOKS in {conftest} is a function; it should be a list of hooks *",
        ),
    ],
)
def test_bad_hooks_are_named(project, conftest, message):
    """A hook that fails, or an entry that is not a hook, is reported naming the hook and the conftest that lists it."""
    path = project.makeconftest("pytest_plugins = ['pytest_wsservice']\n" + conftest)
    project.makepyfile("def test_it(service_config):\n    pass\n")
    result = project.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["pytest_wsservice.errors.ServiceConfigError: " + message.format(conftest=path)])
