"""The clients tests talk to the service with: WebSocket, HTTP, tests-control, log capture.

Each is a factory of async context managers bound to no event loop until used.
"""
