"""Click and open tracking: cxflow's own signed links, put into a message's HTML at send time.

A tracked link is ``{public_url}/v1/l/{token}``: the token, signed with
``CXFLOW_SECRET_KEY`` for the purpose ``click``, holds the message's ref and the
link's target (ids and the URL the message already had: signed, **not
encrypted**). ``GET /v1/l/{token}`` (:mod:`engine.api.routes.tracking`) records the
click and redirects to the target read from the token, never from the request, so
no one can make cxflow redirect anywhere a message did not link to. The open pixel
is ``{public_url}/v1/o/{token}`` (purpose ``open``, the message's ref only).

Only the ``href`` of ``<a>`` start tags is rewritten, in place: the rest of the HTML
keeps every byte, so what the author wrote (and what mail clients' quirks need) is
what is sent. Links that are not http(s) (``mailto:``, ``tel:``, ``#top``, relative
ones), the unsubscribe link and links into cxflow itself (its public URL, and a
connector's ``PUBLIC_URL`` such as the survey links') are left alone. Text bodies
are not rewritten: a long redirect in plain text reads badly, and the HTML part
is what nearly every reader clicks.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.base import Connector
from connectors.signing import MAX_TOKEN_CHARS, InvalidLinkError, LinkSigner
from dsl.compiled import TrackingSpec
from engine.settings import Settings

log = logging.getLogger("cxflow.tracking")

CLICK_PURPOSE = "click"
OPEN_PURPOSE = "open"
CLICK_PATH = "/v1/l/"
OPEN_PATH = "/v1/o/"
WEB_SCHEMES = ("http", "https")
OWN_URL_SETTING = "PUBLIC_URL"
"""A connector setting that says where customers reach cxflow for that connector's links."""

# html.parser's own patterns for a start tag's name and attributes (CPython 3.11), used to
# find where the href value sits inside the tag text the parser reports. The value found
# is compared with the parser's: if a Python version parses a tag differently, that tag
# is left as it was rather than rewritten in the wrong place.
_TAG_NAME = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"((?<=[\'\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"(\'[^\']*\'|\"[^\"]*\"|(?![\'\"])[^>\s]*))?(?:\s|/(?!>))*"
)
# What browsers take out of a URL before reading it (WHATWG URL: C0 controls and spaces
# at the ends, tabs and newlines anywhere).
_URL_EDGES = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")


@dataclass(frozen=True)
class Tracking:
    """What a send tracks, once the step's keys and the workspace defaults are combined."""

    clicks: bool
    opens: bool


def effective(spec: TrackingSpec | None, settings: Settings) -> Tracking:
    """The step's tracking, each key it leaves out taken from the workspace's settings."""
    clicks = spec.clicks if spec is not None and spec.clicks is not None else None
    opens = spec.opens if spec is not None and spec.opens is not None else None
    return Tracking(
        clicks=settings.track_clicks if clicks is None else clicks,
        opens=settings.track_opens if opens is None else opens,
    )


class ClickLink(BaseModel):
    """What a click token holds: the message's ref and the link's target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    m: str
    u: str


def click_token(secret: str, message_ref: str, target: str) -> str:
    return LinkSigner(secret, purpose=CLICK_PURPOSE).sign({"m": message_ref, "u": target})


def open_token(secret: str, message_ref: str) -> str:
    return LinkSigner(secret, purpose=OPEN_PURPOSE).sign({"m": message_ref})


def read_click(secret: str, token: str) -> ClickLink:
    """The message and target of a click token this server signed, whose target is a web
    address (a signed ``javascript:`` target is refused as firmly as a forged token).

    :raises InvalidLinkError: not such a token.
    """
    payload = LinkSigner(secret, purpose=CLICK_PURPOSE).verify(token)
    try:
        link = ClickLink.model_validate(payload)
    except ValidationError:
        raise InvalidLinkError("this click link is not valid") from None
    if not is_web_url(link.u):
        raise InvalidLinkError("this click link does not lead to a web page")
    return link


def read_open(secret: str, token: str) -> str:
    """The message ref of an open token this server signed.

    :raises InvalidLinkError: not such a token.
    """
    payload = LinkSigner(secret, purpose=OPEN_PURPOSE).verify(token)
    ref = payload.get("m")
    if not isinstance(ref, str) or set(payload) != {"m"}:
        raise InvalidLinkError("this open link is not valid")
    return ref


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host, and nothing a header could not carry; no
    backslash either (a browser reads one as `/`, so `https://a.example\\@b.example/` would
    lead a reader to one host and the redirect to another)."""
    if any(c < " " or c == "\x7f" or c == "\\" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


_TEMPLATE_URL = re.compile(r"https?://([^/\s\"'<>{}|\\^`?#]+)", re.IGNORECASE)


def redirect_hosts(template: str | None, configured: str) -> list[str]:
    """The hosts a message's tracked links may lead to: those the template itself writes
    (``https://shop.example.com/...``, also as a Liquid ``default``), and the workspace's
    ``CXFLOW_TRACK_LINK_HOSTS`` (comma-separated; ``*.shop.example`` for its subdomains)."""
    found = []
    for match in _TEMPLATE_URL.finditer(template or ""):
        host = urlsplit(f"https://{match.group(1)}").hostname
        if host:
            found.append(host)
    found += [entry.strip().lower() for entry in configured.split(",") if entry.strip()]
    return found


def _host_allowed(url: str, allowed: Iterable[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    for entry in allowed:
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def own_urls(public_url: str, connectors: Iterable[Connector]) -> list[str]:
    """Where cxflow itself answers: its public URL and each connector's ``PUBLIC_URL``."""
    urls = [public_url]
    for connector in connectors:
        config = connector.config
        if OWN_URL_SETTING in config.declared:
            value = config.get(OWN_URL_SETTING)
            if value:
                urls.append(value)
    return urls


def track_html(
    text: str,
    *,
    tracking: Tracking,
    public_url: str,
    secret: str,
    message_ref: str,
    skip: Iterable[str] = (),
    own: Iterable[str] = (),
    hosts: Iterable[str] | None = None,
) -> str:
    """``text`` with its web links through the click redirect and, for opens, the pixel.

    :param skip: links left as they are (the unsubscribe link).
    :param own: base URLs where cxflow answers: links under them are left as they are.
    :param hosts: the hosts a tracked link may lead to (:func:`redirect_hosts`; None:
        any): a link to any other host, which only event or profile data can have put
        there, is left as it is, so that nobody can make cxflow's domain redirect to a
        host of theirs. Sends always pass them.
    """
    if not tracking.clicks and not tracking.opens:
        return text
    base = public_url.rstrip("/")
    parser = _Links()
    parser.feed(text)
    parser.close()
    starts = _line_starts(text)
    pieces: list[str] = []
    done = 0
    if tracking.clicks:
        left_alone = {_clean(url) for url in skip}
        bases = [base, *own]
        allowed = None if hosts is None else [host.lower() for host in hosts]
        for (line, column), tag, href in parser.anchors:
            at = starts[line - 1] + column
            target = _clean(href)
            if text[at : at + len(tag)] != tag or not is_web_url(target):
                continue
            if target in left_alone or any(_is_under(target, url) for url in bases):
                continue
            if allowed is not None and not _host_allowed(target, allowed):
                continue
            token = click_token(secret, message_ref, target)
            if len(token) > MAX_TOKEN_CHARS:  # no redirect could read it: keep the link
                log.warning("a link too long to track was left as it is (%d chars)", len(href))
                continue
            rewritten = _with_href(tag, href, f"{base}{CLICK_PATH}{token}")
            if rewritten is None:
                continue
            pieces += [text[done:at], rewritten]
            done = at + len(tag)
    pieces.append(text[done:])
    tracked = "".join(pieces)
    if tracking.opens:
        pixel = (
            f'<img src="{html.escape(base + OPEN_PATH + open_token(secret, message_ref))}" '
            'width="1" height="1" alt="">'
        )
        tracked = _before_body_end(tracked, pixel)
    return tracked


class _Links(HTMLParser):
    """Each ``<a href>`` start tag (where it is, its text, its href) and the last ``</body>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[tuple[int, int], str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        href = next((value for name, value in attrs if name == "href"), None)
        text = self.get_starttag_text()
        if href and text:
            self.anchors.append((self.getpos(), text, href))

    handle_startendtag = handle_starttag


def _line_starts(text: str) -> list[int]:
    """Offset of each line's start, lines as html.parser counts them (on ``\\n`` only)."""
    starts = [0]
    at = text.find("\n")
    while at >= 0:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def _with_href(tag: str, href: str, url: str) -> str | None:
    """The start tag with its first href's value replaced (quoted, escaped); None if the
    tag does not parse here as the parser read it."""
    name = _TAG_NAME.match(tag, 1)
    if name is None:
        return None
    at = name.end()
    while at < len(tag):
        match = _ATTRIBUTE.match(tag, at)
        if match is None:
            return None
        attribute, rest, value = match.group(1, 2, 3)
        if attribute.lower() == "href":
            if not rest or _unquoted(value) != href:
                return None
            start, end = match.span(3)
            return f'{tag[:start]}"{html.escape(url, quote=True)}"{tag[end:]}'
        at = match.end()
    return None


def _unquoted(value: str) -> str:
    if value[:1] == value[-1:] and value[:1] in ("'", '"') and len(value) > 1:
        value = value[1:-1]
    return html.unescape(value)


def _clean(url: str) -> str:
    """The URL a browser would follow for this href."""
    return url.strip(_URL_EDGES).translate(_TAB_OR_NEWLINE)


def _is_under(url: str, base: str) -> bool:
    """Whether ``url`` is ``base`` or below it (same scheme and host, path under it)."""
    try:
        link, root = urlsplit(url), urlsplit(base.strip())
    except ValueError:
        return False
    if (link.scheme.lower(), link.netloc.lower()) != (root.scheme.lower(), root.netloc.lower()):
        return False
    prefix = root.path.rstrip("/")
    return not prefix or link.path == prefix or link.path.startswith(prefix + "/")


def _before_body_end(text: str, element: str) -> str:
    """``element`` put just before the closing body tag, or at the end without one."""
    finder = _BodyEnd()
    finder.feed(text)
    finder.close()
    if finder.position is None:
        return text + element
    line, column = finder.position
    at = _line_starts(text)[line - 1] + column
    return text[:at] + element + text[at:]


class _BodyEnd(HTMLParser):
    """Where the last ``</body>`` tag starts (outside comments, scripts and styles)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.position: tuple[int, int] | None = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.position = self.getpos()
