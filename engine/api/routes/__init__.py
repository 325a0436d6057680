"""The event API's routes, one module per area; :func:`engine.api.app.create_app` mounts them."""
