"""The engine: load and patch the config, build the recipe, start, watch and stop the service.

Never imports pytest: usable from a script or a benchmark. See docs/architecture.md.
"""
