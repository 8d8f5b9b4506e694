"""Loading the plugin in a fresh pytest process: the pytest11 entry point, pytest_plugins, import cost."""

from __future__ import annotations

import sys

import pytest

from tests.plugin.plugin_helpers import BASE_INI, TUTORIAL_TEST


@pytest.fixture
def fresh(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with an ini but no conftest: only the entry point can load the plugin."""
    pytester.makeini(BASE_INI)
    pytester.makepyfile(test_websocket=TUTORIAL_TEST)
    return pytester


def test_entry_point_alone_loads_the_plugin(fresh):
    """With no conftest at all, the pytest11 entry point provides the fixtures and the tutorial test passes."""
    result = fresh.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins: *wsservice-*"])


def test_entry_point_is_named_pytest_wsservice(fresh):
    """`-p no:pytest_wsservice` switches the entry point off, so the fixtures are gone."""
    result = fresh.runpytest_subprocess("-p", "no:pytest_wsservice")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'websocket_client' not found*"])


def test_pytest_plugins_and_entry_point_side_by_side(fresh):
    """`pytest_plugins = ['pytest_wsservice']` in the root conftest works next to the entry point, loading the plugin
    once.
    """
    fresh.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    fresh.makepyfile(
        test_once="""
        def test_registered_once(request):
            manager = request.config.pluginmanager
            import importlib
            import pytest_wsservice
            for module_name in pytest_wsservice.PLUGIN_MODULES:
                module = importlib.import_module(module_name)
                names = [name for name, plugin in manager.list_name_plugin() if plugin is module]
                assert names == [module_name]
        """
    )
    result = fresh.runpytest_subprocess()
    result.assert_outcomes(passed=2)


def test_pytest_plugins_without_entry_point(fresh, monkeypatch):
    """With plugin autoloading off, the conftest's pytest_plugins alone loads the plugin."""
    fresh.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = fresh.runpytest_subprocess("-p", "asyncio")
    result.assert_outcomes(passed=1)


def test_unused_plugin_imports_nothing_heavy(fresh, monkeypatch):
    """A run that uses none of the plugin's fixtures does not import PyYAML, yarl, websockets or aiohttp, nor
    the engine modules that only starting, keeping or quoting a service needs (its load cost, issue 14)."""
    fresh.makepyfile(
        test_websocket="""
        import sys

        import pytest_wsservice

        def test_nothing_heavy():
            assert set(pytest_wsservice.PLUGIN_MODULES) <= set(sys.modules)
            heavy = {"yaml", "yarl", "websockets", "aiohttp"} & set(sys.modules)
            assert not heavy, heavy
            engine = {
                f"pytest_wsservice.service.{name}"
                for name in ("command", "reuse", "procfs", "descendants", "logquote", "session", "process", "config")
            }
            assert not engine & set(sys.modules), sorted(engine & set(sys.modules))
        """
    )
    # Only this plugin and pytest-asyncio: another installed plugin may import these modules
    # itself (pytest-aiohttp, which the bench extras install, imports aiohttp and yarl).
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = fresh.runpytest_subprocess("-p", "pytest_wsservice", "-p", "asyncio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_each_plugin_module_is_registered_under_its_name(fresh):
    """The plugin's modules are registered as ``pytest_plugins`` would, under their module names, so that
    ``-p no:pytest_wsservice.plugin.<module>`` blocks one of them."""
    fresh.makepyfile(
        test_names="""
        import pytest_wsservice

        def test_names(request):
            manager = request.config.pluginmanager
            registered = [name for name in pytest_wsservice.PLUGIN_MODULES if manager.get_plugin(name) is not None]
            assert registered == [n for n in pytest_wsservice.PLUGIN_MODULES if not n.endswith(".asyncio_hint")]
        """
    )
    result = fresh.runpytest_subprocess("-p", "no:pytest_wsservice.plugin.asyncio_hint", "test_names.py")
    result.assert_outcomes(passed=1)


def test_every_public_name_resolves_and_only_on_use(pytester):
    """Importing pytest_wsservice loads no heavy module, and every name in __all__ resolves when used."""
    script = pytester.makepyfile(
        check="""
        import sys

        import pytest_wsservice

        heavy = {"yaml", "yarl", "websockets", "aiohttp"}
        assert not heavy & set(sys.modules), heavy & set(sys.modules)
        missing = [name for name in pytest_wsservice.__all__ if getattr(pytest_wsservice, name, None) is None]
        assert not missing, missing
        assert issubclass(pytest_wsservice.ServiceRequestTimeout, TimeoutError)
        print("public names ok:", len(pytest_wsservice.__all__))
        """
    )
    result = pytester.run(sys.executable, str(script))
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["public names ok: *"])


def test_a_project_with_its_own_sample_service_package_still_gets_the_bundled_one(pytester: pytest.Pytester) -> None:
    """A user project with a ``sample_service`` package of its own (found first on sys.path) does not replace the
    bundled service: the plugin finds and starts the installed one by its place beside the plugin."""
    from tests.plugin.plugin_helpers import BASE_INI, TUTORIAL_TEST

    pytester.makeini(BASE_INI)
    pytester.makeconftest("pytest_plugins = ['pytest_wsservice']\n")
    package = pytester.mkpydir("sample_service")
    (package / "__main__.py").write_text("raise SystemExit('the user project package ran')\n")
    pytester.makepyfile(test_echo=TUTORIAL_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
