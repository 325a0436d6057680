"""``GET /metrics``: what an operator's monitoring scrapes, in Prometheus' text format.

Numbers only, nothing about any customer, so it needs no key (bind the API behind
your proxy if even counts are private). The gauges are read from the store at each
scrape: events waiting to be routed, those waiting out a retry after a failure, and
those parked after every attempt failed (``cxflow events failed`` lists them; alert
on ``cxflow_events_failed > 0``).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from engine.api.deps import StoreDep
from engine.store import Store

router = APIRouter(tags=["operations"])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RoutingCollector(Collector):
    """The store's routing counts as gauges, read when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        counts = self.store.routing_counts()
        for name, value, what in (
            ("cxflow_events_pending", counts.pending, "Events stored and not routed yet."),
            (
                "cxflow_events_retrying",
                counts.retrying,
                "Events whose routing failed and will be retried.",
            ),
            (
                "cxflow_events_failed",
                counts.failed,
                "Events parked after every routing attempt failed.",
            ),
        ):
            yield GaugeMetricFamily(name, what, value=value)


@router.get(
    "/metrics",
    summary="Operational metrics (Prometheus text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(store: StoreDep) -> Response:
    """Routing gauges for monitoring; no key needed, no customer data."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RoutingCollector(store))
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE)
