"""Helpers of the tracking tests: a journey whose email has an HTML part, and its links."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from dsl.compiled import CompiledJourney
from dsl.loader import load_file
from engine.settings import DEV_SECRET
from tests.runtime.conftest import Engine
from workflows.ids import workflow_id_for

SECRET = DEV_SECRET  # what the test worker signs with (its settings are the defaults)
PUBLIC_URL = "http://127.0.0.1:8000"
SHOP_LINK = "https://shop.example.com/new?utm_source=mail&amp;ref=welcome"
SHOP_TARGET = "https://shop.example.com/new?utm_source=mail&ref=welcome"

TEMPLATE = f"""\
subject: Hello
body: |
  Hello, see {SHOP_TARGET}
html: |
  <html><body>
  <p>Hello {{{{ customer.first_name | escape }}}},</p>
  <p><a href="{SHOP_LINK}" class="button">See what's new</a></p>
  <p><a href="{{{{ links.unsubscribe }}}}">Unsubscribe</a></p>
  </body></html>
"""

JOURNEY = """\
journey: tracked
name: Tracked
trigger: { event: signed.up }
%(journey)s
steps:
  - id: hello
    send: { channel: email, template: hello }
%(step)s
"""

TRACKED = re.compile(r'href="(http://127\.0\.0\.1:8000/v1/l/[A-Za-z0-9_.\-]+)"')
PIXEL = re.compile(r'<img src="(http://127\.0\.0\.1:8000/v1/o/[A-Za-z0-9_.\-]+)"')


def tracked_journey(tmp_path: Path, journey: str = "", step: str = "") -> CompiledJourney:
    """The journey `tracked` (one HTML email) with these lines of `tracking:` added."""
    folder = tmp_path / f"journeys-{uuid.uuid4().hex[:8]}"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "hello.yaml").write_text(TEMPLATE)
    path = folder / "tracked.yaml"
    path.write_text(JOURNEY % {"journey": journey, "step": step})
    result = load_file(path)
    assert result.compiled is not None, [d.render() for d in result.diagnostics]
    return result.compiled


async def run_tracked(engine: Engine, journey: CompiledJourney) -> str:
    """Deploy the journey, enter a new customer, wait for the run; the customer's id."""
    engine.deploy(journey)
    customer = f"ada-{uuid.uuid4().hex[:8]}"
    engine.store.upsert_customer(customer, {"email": "ada@example.com", "first_name": "Ada"})
    await engine.send(customer, "signed.up")
    await engine.outcome(workflow_id_for(journey.id, customer))
    return customer


def outbox_html(engine: Engine, customer: str) -> str:
    """The HTML of the one email the console connector wrote for the customer."""
    [message] = [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer]
    return str(message["html"])
