"""The pytest side of pytest-wsservice: thin plugin modules, one concern each.

``pytest_wsservice`` lists them in ``pytest_plugins``; pytest imports them (so their
asserts are rewritten) and registers their hooks and fixtures. Each owns its options,
fixtures and hooks; they hand values to each other as fixture values, and read the
options only through :func:`.settings.settings_of`. See docs/architecture.md.
"""
