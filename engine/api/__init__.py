"""The HTTP API: the app factory, its routes, error bodies, auth, and the Python client."""
