"""Links built from data cannot run script: such a message is refused, not sent.

Liquid's autoescape keeps data out of the markup, not out of an attribute's URL, so the
rendered HTML is checked: ``javascript:``, ``vbscript:`` and ``data:`` documents in
links (however written: entities, case, tabs inside the scheme) fail the send.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dsl.loader import load_file
from engine.errors import TemplateError
from engine.runtime.rendering import render
from tests.runtime.conftest import Engine
from workflows.journey import workflow_id_for

LINK = '<a href="{{ url }}">open</a>'


def test_html_the_parser_cannot_read_fails_the_send_for_good() -> None:
    # html.parser raises AssertionError on an unknown marked section: a retry would fail
    # the same way for ever, so it is a template error, which the send records as failed
    with pytest.raises(TemplateError) as refused:
        render("<p><![foo[ {{ name }} ]]></p>", {"name": "Ada"}, html=True)
    assert refused.value.code == "html_unreadable"
    assert "was not sent" in str(refused.value)


@pytest.mark.parametrize(
    ("template", "url"),
    [
        (LINK, "javascript:alert(1)"),
        (LINK, " JavaScript:alert(1)"),
        (LINK, "java\tscript:alert(1)"),
        (LINK, "vbscript:msgbox(1)"),
        (LINK, "data:text/html;base64,PHNjcmlwdD4="),
        ('<img src="{{ url }}">', "javascript:alert(1)"),
        ('<form action="{{ url }}"></form>', "javascript:alert(1)"),
        ('<a href="java&#115;cript:{{ url }}">x</a>', "alert(1)"),
    ],
)
def test_script_and_document_urls_in_html_are_refused(template: str, url: str) -> None:
    with pytest.raises(TemplateError) as refused:
        render(template, {"url": url}, html=True)
    assert refused.value.code == "unsafe_url"
    assert "was not sent" in str(refused.value)


@pytest.mark.parametrize(
    ("template", "url"),
    [
        (LINK, "https://shop.example.com/cart?id=1&x=2"),
        (LINK, "mailto:help@example.com"),
        (LINK, "/relative/path"),
        ('<img src="{{ url }}">', "data:image/png;base64,iVBORw0KGgo="),
    ],
)
def test_ordinary_links_and_inline_images_render(template: str, url: str) -> None:
    assert render(template, {"url": url}, html=True) is not None


def test_plain_text_bodies_are_not_html() -> None:
    assert render("Go to {{ url }}", {"url": "javascript:alert(1)"}) == "Go to javascript:alert(1)"


JOURNEY = """\
journey: link-mail
name: Link mail
trigger: { event: link.requested }
steps:
  - id: mail
    send: { channel: email, template: link }
"""
TEMPLATE = """\
subject: Your link
body: "Open {{ event.properties.url }}"
html: '<p><a href="{{ event.properties.url }}">Open</a></p>'
"""


@pytest.mark.asyncio(loop_scope="session")
async def test_a_send_with_a_script_link_is_recorded_failed_and_nothing_goes_out(
    engine: Engine, tmp_path: Path
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "link.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "link-mail.yaml").write_text(JOURNEY, encoding="utf-8")
    loaded = load_file(tmp_path / "link-mail.yaml")
    assert loaded.compiled is not None, [d.render() for d in loaded.diagnostics]
    engine.deploy(loaded.compiled)
    customer = f"mallory-{uuid.uuid4()}"
    await engine.send(customer, "link.requested", url="javascript:fetch('//evil')")
    outcome = await engine.outcome(workflow_id_for("link-mail", customer))
    assert outcome.status == "completed"
    [message] = engine.store.messages_for(customer_id=customer)
    assert message.status == "failed"
    assert "javascript: URL in <a href>" in message.detail["error"]
    assert [m for m in engine.outbox_messages() if m["recipient"]["customer_id"] == customer] == []
