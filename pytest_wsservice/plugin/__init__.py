"""The pytest side of pytest-wsservice: thin plugin modules, one concern each.

``pytest_wsservice`` lists them in ``PLUGIN_MODULES`` and has pytest import them (so their
asserts are rewritten) and register their hooks and fixtures when it registers the package.
Each owns its options, fixtures and hooks; they hand values to each other as fixture values, and read the
options only through :func:`.settings.settings_of`. See docs/architecture.md.
"""
