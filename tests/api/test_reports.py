"""GET /v1/journeys/{id}/report: the report's numbers as JSON, for read keys only."""

from __future__ import annotations

import httpx
import pytest

from engine.analytics.report import build_report
from tests.analytics.test_experiment_results import simulate
from tests.api.conftest import ApiServer
from tests.runtime.conftest import compiled

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_read_key_gets_the_same_report_as_the_terminal(api: ApiServer) -> None:
    store = api.engine.store
    journey = api.engine.deploy(compiled("abandoned-cart"))
    read_key = store.create_write_key("dashboard", "read")
    async with httpx.AsyncClient(base_url=api.url, auth=(read_key, "")) as http:
        empty = await http.get("/v1/journeys/abandoned-cart/report")
        assert empty.status_code == 200, empty.text  # no runs yet: still valid JSON
        assert empty.json()["summary"]["runs"] == 0
        counts = simulate(store, 300)
        answer = await http.get("/v1/journeys/abandoned-cart/report")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body == build_report(store, journey).model_dump(mode="json")
    exposures = {v["name"]: v["exposures"] for v in body["experiments"][0]["variants"]}
    assert exposures == {name: n for name, (n, _) in counts.items()}
    assert [step["step_id"] for step in body["funnel"]][:2] == ["pause", "offer-test"]


async def test_write_keys_and_strangers_read_nothing(api: ApiServer) -> None:
    api.engine.deploy(compiled("abandoned-cart"))
    url = f"{api.url}/v1/journeys/abandoned-cart/report"
    async with httpx.AsyncClient() as http:
        with_write_key = await http.get(url, headers=api.headers)
        anonymous = await http.get(url)
    assert with_write_key.status_code == 401
    assert "unknown read key" in with_write_key.json()["error"]
    assert "--scope read" in with_write_key.json()["error"]
    assert anonymous.status_code == 401


async def test_unknown_and_malformed_journey_ids(api: ApiServer) -> None:
    read_key = api.engine.store.create_write_key("dashboard", "read")
    async with httpx.AsyncClient(base_url=api.url, auth=(read_key, "")) as http:
        unknown = await http.get("/v1/journeys/no-such-journey/report")
        malformed = await http.get("/v1/journeys/Not%20An%20Id/report")
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("no journey 'no-such-journey' is deployed")
    assert malformed.status_code == 400
    assert malformed.json()["fields"][0]["path"].endswith("journey_id")


async def test_write_keys_still_send_events_and_read_keys_do_not(api: ApiServer) -> None:
    read_key = api.engine.store.create_write_key("dashboard", "read")
    call = {"userId": "ada", "event": "page.viewed"}
    async with httpx.AsyncClient(base_url=api.url) as http:
        refused = await http.post("/v1/track", json=call, auth=(read_key, ""))
        accepted = await http.post("/v1/track", json=call, headers=api.headers)
    assert refused.status_code == 401 and accepted.status_code == 200


async def test_a_read_key_gets_the_survey_scores(api: ApiServer) -> None:
    read_key = api.engine.store.create_write_key("dashboard", "read")
    async with httpx.AsyncClient(base_url=api.url) as http:
        for n, score in enumerate((10, 9, 2)):
            sent = await http.post(
                "/v1/track",
                headers=api.headers,
                json={"userId": f"voc-{n}", "event": "survey.responded",
                      "properties": {"kind": "nps", "score": score, "survey": "onboarding"}},
            )  # fmt: skip
            assert sent.status_code == 200, sent.text
        answer = await http.get("/v1/reports/voc", auth=(read_key, ""))
        refused = await http.get("/v1/reports/voc", headers=api.headers)
        bad = await http.get("/v1/reports/voc?since=yesterday", auth=(read_key, ""))
    assert answer.status_code == 200, answer.text
    [nps] = answer.json()["overall"]
    assert (nps["kind"], nps["answers"], round(nps["score"], 6)) == ("nps", 3, round(100 / 3, 6))
    assert refused.status_code == 401
    assert bad.status_code == 400 and bad.json()["fields"][0]["path"] == "query.since"
    async with httpx.AsyncClient(base_url=api.url, auth=(read_key, "")) as http:
        overview = await http.get("/v1/reports/overview")
    assert overview.status_code == 200, overview.text
    assert [s["kind"] for s in overview.json()["voc"]] == ["nps"]
