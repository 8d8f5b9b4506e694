# The root conftest, as a user of pytest-wsservice writes it. The pytest11 entry point
# loads the plugin too; naming it here as well is harmless and keeps the repo's own
# suite working from a source checkout that is not installed.
pytest_plugins = ["pytest_wsservice"]
