"""The sample service's own tests: a real process on a real socket, without the plugin."""
