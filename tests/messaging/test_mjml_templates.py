"""MJML email templates: compiled to responsive HTML when a journey loads, rendered with
Liquid per customer, and a broken one reported with its file, never sent half-built."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from dsl.codes import DiagnosticCode
from dsl.compiled import SendNode
from dsl.loader import load_file
from engine.errors import TemplateError
from engine.runtime.rendering import brand_for, links_for, render, render_mjml
from engine.settings import Settings
from tests.conftest import JOURNEYS
from tests.runtime.conftest import compiled

SETTINGS = Settings(brand_name="Shop & Co", brand_address="1 Main St, Springfield")
TEMPLATES = JOURNEYS / "templates"
EMAIL_TEMPLATES = sorted(p.stem for p in TEMPLATES.glob("[!_]*.mjml"))
PREHEADER = re.compile(r'<div style="display:none;[^"]*">([^<]+)</div>')


def variables(**extra: Any) -> dict[str, Any]:
    return {
        "customer": {"id": "ada", "first_name": "Ada", "traits": {"email": "ada@example.com"}},
        "event": {"properties": {"order_id": "1001", "item_count": 2}},
        "links": links_for("https://cx.example.com", "secret", "ada", "email"),
        "brand": brand_for(SETTINGS),
        **extra,
    }


def send_node(journey: str, step: str) -> SendNode:
    node = compiled(journey).steps[step]
    assert isinstance(node, SendNode)
    return node


def test_every_shipped_email_template_is_mjml_with_a_text_part() -> None:
    yaml_templates = {p.stem for p in TEMPLATES.glob("*.yaml")}
    assert set(EMAIL_TEMPLATES) == yaml_templates - {"cart-dm"}  # a DM has no HTML
    for name in EMAIL_TEMPLATES:
        text = (TEMPLATES / f"{name}.yaml").read_text()
        assert "html:" not in text and "body: |" in text, name
        assert "{{ links.unsubscribe }}" in text and "{{ brand.name }}" in text, name


def test_the_nps_email_renders_responsive_with_preheader_brand_and_eleven_buttons() -> None:
    node = send_node("post-purchase-nps", "nps-survey")
    survey = {"url": "https://cx.example.com/v1/surveys/tok", "min_score": 0, "max_score": 10}
    html = render(node.content.html, variables(survey=survey), html=True)
    assert html is not None
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media only screen and (min-width:480px)" in html  # columns stack on phones
    [preheader] = PREHEADER.findall(html)
    assert preheader == "One tap: how likely are you to recommend us to a friend?"
    assert "Hi Ada," in html and "Your order 1001 should have arrived" in html
    assert "Shop &amp; Co · 1 Main St, Springfield" in html  # autoescaped brand
    buttons = re.findall(
        r'<a href="https://cx.example.com/v1/surveys/tok\?score=(\d+)" style="([^"]+)"', html
    )
    assert [int(score) for score, _ in buttons] == list(range(11))
    for _score, style in buttons:
        assert "display:inline-block" in style  # they wrap on a narrow screen
        assert "min-width:44px" in style and "height:44px" in style
    unsubscribe = variables()["links"]["unsubscribe"]
    assert (
        f'<a href="{unsubscribe.replace("&", "&amp;")}"' in html or f'href="{unsubscribe}"' in html
    )


def test_a_main_link_is_a_button_and_liquid_blocks_between_components_work() -> None:
    node = send_node("abandoned-cart", "plain-reminder")
    html = render(node.content.html, variables(), html=True)
    assert html is not None
    assert re.search(
        r'<a href="https://shop.example.com/cart"[^>]*style="display:inline-block;'
        r'background:#2456a6;[^"]*padding:14px 28px',
        html,
    )
    assert "{%" not in html and "{{" not in html
    miss_you = send_node("win-back", "miss-you-email")
    without = render(miss_you.content.html, variables(), html=True) or ""
    fond = variables()
    fond["customer"]["traits"]["favorite_category"] = "Shoes"
    withit = render(miss_you.content.html, fond, html=True) or ""
    assert "Fresh picks" not in without and "Fresh picks in shoes just landed" in withit


def test_the_text_part_reads_well() -> None:
    node = send_node("abandoned-cart", "plain-reminder")
    body = render(node.content.body, variables())
    assert body is not None and "<" not in body
    assert body.splitlines()[0] == "Hi Ada,"
    assert "Shop & Co, 1 Main St, Springfield" in body  # not escaped: it is plain text
    assert body.rstrip().endswith(variables()["links"]["unsubscribe"])


def copy_journey(tmp_path: Path, journey: str) -> Path:
    folder = tmp_path / "journeys"
    shutil.copytree(TEMPLATES, folder / "templates")
    shutil.copy(JOURNEYS / f"{journey}.yaml", folder)
    return folder


def test_a_broken_mjml_template_is_a_diagnostic_naming_the_file(tmp_path: Path) -> None:
    folder = copy_journey(tmp_path, "post-purchase-nps")
    mjml = folder / "templates" / "nps-survey.mjml"
    mjml.write_text(mjml.read_text().replace("</mj-column>", "", 1))
    result = load_file(folder / "post-purchase-nps.yaml")
    assert result.compiled is None
    [broken] = [d for d in result.errors if d.code == DiagnosticCode.MJML_INVALID]
    assert broken.file == str(mjml)
    assert broken.message == "the MJML does not compile: unexpected end of stream"
    assert any(
        d.code == DiagnosticCode.TEMPLATE_INVALID and "nps-survey" in d.message
        for d in result.errors
    )


def test_html_and_mjml_for_one_template_is_an_error(tmp_path: Path) -> None:
    folder = copy_journey(tmp_path, "post-purchase-nps")
    yaml = folder / "templates" / "nps-survey.yaml"
    yaml.write_text(yaml.read_text() + "html: <p>hi</p>\n")
    result = load_file(folder / "post-purchase-nps.yaml")
    assert [d.message for d in result.errors if d.code == DiagnosticCode.MJML_INVALID] == [
        "nps-survey.yaml has an `html:` and nps-survey.mjml is beside it: keep one of them "
        "(the .mjml is compiled into the HTML)"
    ]


@pytest.mark.parametrize("path", ["../secret.mjml", "nps-survey.mjml", "/etc/passwd"])
def test_only_partials_of_the_folder_can_be_included(tmp_path: Path, path: str) -> None:
    source = f'<mjml><mj-body><mj-include path="{path}" /></mj-body></mjml>'
    with pytest.raises(TemplateError) as raised:
        render_mjml(source, variables(), file="t.mjml", folder=TEMPLATES)
    assert raised.value.code == "mjml_invalid"
    assert str(raised.value).startswith("t.mjml: the MJML does not compile at line 1, column ")
    assert "partials are _<name>.mjml files" in str(raised.value)


def test_render_mjml_compiles_renders_and_names_the_file_on_errors() -> None:
    source = (TEMPLATES / "welcome.mjml").read_text()
    html = render_mjml(source, variables(), file="welcome.mjml", folder=TEMPLATES)
    assert "Welcome aboard, Ada!" in html and PREHEADER.search(html)
    with pytest.raises(TemplateError) as raised:
        render_mjml("<p>not mjml</p>", variables(), file="templates/x.mjml")
    assert str(raised.value) == (
        "templates/x.mjml: the MJML does not compile at line 1, column 1: "
        "an MJML template starts with <mjml>"
    )
    with pytest.raises(TemplateError, match=r"^templates/y.mjml: the MJML does not compile"):
        render_mjml("<mjml><mj-body><mj-section>", variables(), file="templates/y.mjml")


def test_rendering_a_compiled_template_costs_well_under_a_millisecond_of_mjml() -> None:
    """Measured, not asserted tight: Liquid dominates; MJML is compiled once at load."""
    source = (TEMPLATES / "nps-survey.mjml").read_text()
    survey = {"url": "https://cx.example.com/v1/surveys/tok", "min_score": 0, "max_score": 10}
    start = time.perf_counter()
    for _ in range(50):
        render_mjml(source, variables(survey=survey), file="nps-survey.mjml", folder=TEMPLATES)
    per_render = (time.perf_counter() - start) / 50
    assert per_render < 0.05, per_render
