"""cxflow's engine: what runs journeys, around the language, the workflows and the connectors.

One package per job: ``api`` (HTTP), ``ingest`` (the one way in for events), ``runtime``
(activities and Temporal), ``store``, ``segments``, ``privacy`` (consent and erasure),
``analytics`` (reports and experiment statistics), ``cli``; ``composition`` builds them for
a process, ``errors`` holds the engine's part of the error tree, ``settings`` its configuration.
"""
