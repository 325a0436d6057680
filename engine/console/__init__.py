"""The console: the web app where marketing ops see journeys, customers and results.

Server-rendered pages (FastAPI routes, Jinja2 templates, SVG charts made in Python) under
``/console``, served by the API process. Nothing is fetched from elsewhere: styles and the
one small script are files of this package; charts are drawn by pygal on the server.

- :mod:`engine.console.app` mounts the pages and the static files on the API.
- :mod:`engine.console.context` is what the pages share (store, settings, Temporal...).
- :mod:`engine.console.security` logs people in and checks every form (CSRF) and role.
- :mod:`engine.console.templating` renders pages, with the number and date formats.
- :mod:`engine.console.charts` draws the charts.
- :mod:`engine.console.routes` has one module per area of the navigation.
"""
