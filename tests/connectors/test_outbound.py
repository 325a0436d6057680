"""The outbound-request guard: URLs from journeys never reach internal addresses.

Every test that could connect somewhere points at a real receiver on loopback, so a
guard that let a request through would show it as a received request. Addresses
outside 127.0.0.0/8 (10.0.0.1, 169.254.169.254, ...) are only ever *checked*: the
guard refuses them before connecting, which is what these tests assert.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
import trustme

from connectors import HttpClient, PermanentConnectorError, RetryableConnectorError
from connectors.builtin.webhook import WebhookConnector
from connectors.errors import ConnectorError
from connectors.outbound import (
    ALLOW_VARIABLE,
    AllowList,
    OutboundPolicy,
    OutboundRefusedError,
    address_class,
)
from tests.connectors.support import call_request, send_request
from tests.peers.http_receiver import HttpReceiver, Reply

pytestmark = pytest.mark.asyncio


def webhook(allow: str | None = None) -> WebhookConnector:
    return WebhookConnector(environ={ALLOW_VARIABLE: allow} if allow else {})


async def post(connector: WebhookConnector, url: str) -> None:
    try:
        await connector.call(call_request("post", {"url": url}))
    finally:
        await connector.aclose()


def refusal_of(error: pytest.ExceptionInfo[ConnectorError]) -> OutboundRefusedError:
    refused = error.value
    assert isinstance(refused, OutboundRefusedError)
    assert isinstance(refused, PermanentConnectorError) and not refused.retryable
    assert refused.code == "outbound_refused" and refused.connector == "webhook"
    return refused


# --- what review found reaching loopback ------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("127.0.0.1", "127.0.0.1 (loopback)"),
        ("localhost", "localhost (127.0.0.1, loopback)"),
        ("127.1", "127.1 (127.0.0.1, loopback)"),
        ("2130706433", "2130706433 (127.0.0.1, loopback)"),
        ("0x7f000001", "0x7f000001 (127.0.0.1, loopback)"),
        ("[::ffff:127.0.0.1]", "[::ffff:127.0.0.1] (loopback, as IPv4 inside IPv6)"),
    ],
)
async def test_every_spelling_of_loopback_is_refused_before_connecting(
    receiver: HttpReceiver, host: str, shown: str
) -> None:
    url = f"http://{host}:{receiver.port}/hook"
    with pytest.raises(ConnectorError) as raised:
        await post(webhook(), url)
    refused = refusal_of(raised)
    assert str(refused) == (
        f"webhook: refused to call {shown}: cxflow does not call internal addresses from "
        "journeys; if this host is yours, add it to CXFLOW_OUTBOUND_ALLOW"
    )
    assert receiver.requests == []  # the receiver is listening: nothing reached it


async def test_the_channel_is_guarded_too(receiver: HttpReceiver) -> None:
    connector = webhook()
    request = send_request(channel="webhook", params={"url": receiver.url()})
    with pytest.raises(OutboundRefusedError, match=r"refused to call 127\.0\.0\.1 \(loopback\)"):
        await connector.send(request)
    await connector.aclose()
    assert receiver.requests == []


async def test_credentials_in_the_url_are_refused_and_never_shown(receiver: HttpReceiver) -> None:
    url = f"http://ops:hunter2@127.0.0.1:{receiver.port}/hook"
    with pytest.raises(ConnectorError) as raised:
        await post(webhook(allow="127.0.0.1"), url)  # even to an allowed host
    refused = refusal_of(raised)
    assert refused.reason == "credentials"
    assert "hunter2" not in str(refused) and "ops" not in str(refused)
    assert "credentials (user:password@)" in str(refused)
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 (link-local)"),
        ("http://metadata.google.internal/computeMetadata/v1/", "a cloud metadata service"),
        ("http://metadata/computeMetadata/v1/", "metadata (a cloud metadata service)"),
        ("http://instance-data/latest/", "a cloud metadata service"),
        ("http://10.0.0.1/", "10.0.0.1 (private)"),
        ("http://172.16.5.4/", "172.16.5.4 (private)"),
        ("http://192.168.1.1/", "192.168.1.1 (private)"),
        ("http://100.100.100.200/", "100.100.100.200 (shared address space (CGNAT))"),
        ("http://[::1]/", "[::1] (loopback)"),
        ("http://0.0.0.0/", "0.0.0.0 (unspecified)"),
        ("http://[::]/", "[::] (unspecified)"),
        ("http://[fe80::1]/", "[fe80::1] (link-local)"),
        ("http://[fd00:ec2::254]/", "[fd00:ec2::254] (private)"),
        ("http://224.0.0.1/", "224.0.0.1 (multicast)"),
        ("http://240.0.0.1/", "240.0.0.1 (reserved)"),
        ("http://[::ffff:169.254.169.254]/", "(link-local, as IPv4 inside IPv6)"),
        ("http://[::ffff:a00:1]/", "(private, as IPv4 inside IPv6)"),
        ("http://[2002:a9fe:a9fe::1]/", "(link-local, as IPv4 inside IPv6)"),  # 6to4
        ("http://[64:ff9b::a9fe:a9fe]/", "(link-local, as IPv4 inside IPv6)"),  # NAT64
    ],
)
async def test_internal_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(ConnectorError) as raised:
        await post(webhook(), url)
    refused = refusal_of(raised)
    assert why in str(refused) and ALLOW_VARIABLE in str(refused)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://x.example/"])
async def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(PermanentConnectorError, match=r"is not an http\(s\) URL"):
        await post(webhook(), url)
    with pytest.raises(OutboundRefusedError, match=r"cxflow calls http\(s\) URLs only"):
        OutboundPolicy().check_url(url)


# --- the allow-list ----------------------------------------------------------------------------


@pytest.mark.parametrize("allow", ["127.0.0.1", "127.0.0.0/8", " 10.1.0.0/16 , 127.0.0.1 "])
async def test_an_allowed_address_is_called(receiver: HttpReceiver, allow: str) -> None:
    for host in ("127.0.0.1", "127.1", "localhost"):
        await post(webhook(allow=allow), f"http://{host}:{receiver.port}/hook")
    assert [r.header("Host") for r in receiver.requests] == [
        f"{host}:{receiver.port}" for host in ("127.0.0.1", "127.1", "localhost")
    ]


async def test_an_allowed_name_trusts_that_name_only(receiver: HttpReceiver) -> None:
    await post(webhook(allow="LOCALHOST"), f"http://localhost:{receiver.port}/hook")
    with pytest.raises(OutboundRefusedError, match=r"127\.0\.0\.1 \(loopback\)"):
        await post(webhook(allow="localhost"), f"http://127.0.0.1:{receiver.port}/hook")
    assert len(receiver.requests) == 1


async def test_the_allow_list_is_read_from_the_environment(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = WebhookConnector()  # no mapping: the process environment, read per request
    monkeypatch.delenv(ALLOW_VARIABLE, raising=False)
    with pytest.raises(OutboundRefusedError):
        await connector.call(call_request("post", {"url": receiver.url()}))
    monkeypatch.setenv(ALLOW_VARIABLE, "127.0.0.1")
    result = await connector.call(call_request("post", {"url": receiver.url()}))
    await connector.aclose()
    assert result.output == {"id": "msg-1"} and len(receiver.requests) == 1


@pytest.mark.parametrize("entry", ["http://hooks.internal", "hooks.internal:8080", "a b", "*."])
async def test_an_allow_list_that_cannot_be_read_names_the_variable(entry: str) -> None:
    with pytest.raises(PermanentConnectorError) as raised:
        await post(webhook(allow=f"127.0.0.1,{entry}"), "https://hooks.example.com/")
    assert str(raised.value).startswith(
        "webhook: CXFLOW_OUTBOUND_ALLOW must be a comma-separated list of host names"
    )
    assert repr(entry.strip()) in str(raised.value)


async def test_allow_list_entries() -> None:
    allow = AllowList.parse("hooks.internal., *.corp.example, 10.1.0.0/16, [::1]")
    assert allow.allows_host("HOOKS.internal") and allow.allows_host("hooks.internal.")
    assert allow.allows_host("a.b.corp.example") and not allow.allows_host("corp.example")
    assert not allow.allows_host("evilcorp.example")
    assert allow.allows_address(ipaddress.ip_address("10.1.200.3"))
    assert not allow.allows_address(ipaddress.ip_address("10.2.0.1"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert not AllowList.parse("") and not AllowList.parse(None) and not AllowList.parse(" , ")


# --- resolution: every address is checked, and the checked one is connected to ---------------


@dataclass
class Dns:
    """A resolver for names the operating system does not know (``*.test``)."""

    answers: dict[str, list[list[str]]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def guarded(dns: Dns, allow: str = "", verify: ssl.SSLContext | bool = True) -> HttpClient:
    policy = OutboundPolicy(allow, resolver=dns)
    return HttpClient("hooks", outbound=lambda: policy, verify=verify)


async def test_the_connection_goes_to_the_checked_address(receiver: HttpReceiver) -> None:
    # The OS cannot resolve hooks.test: reaching the receiver proves the connection went
    # to the address the guard resolved and checked, not to a second lookup of the name.
    dns = Dns({"hooks.test": [["127.0.0.1"]]})
    client = guarded(dns, allow="127.0.0.1")
    response = await client.request("POST", f"http://hooks.test:{receiver.port}/in", json={})
    await client.aclose()
    assert response.json() == {"id": "msg-1"}
    assert dns.asked == ["hooks.test"]  # one lookup, checked, then connected to
    assert receiver.last().header("Host") == f"hooks.test:{receiver.port}"


async def test_a_name_is_refused_if_any_of_its_addresses_is_internal(
    receiver: HttpReceiver,
) -> None:
    public = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
    dns = Dns({"mixed.test": [["93.184.215.14", "127.0.0.1"], [public, "10.0.0.1"]]})
    client = guarded(dns)
    with pytest.raises(OutboundRefusedError) as raised:
        await client.request("GET", f"http://mixed.test:{receiver.port}/")
    assert str(raised.value).startswith("hooks: refused to call mixed.test (127.0.0.1, loopback)")
    with pytest.raises(OutboundRefusedError, match=r"mixed\.test \(10\.0\.0\.1, private\)"):
        await client.request("GET", f"http://mixed.test:{receiver.port}/")
    await client.aclose()
    assert receiver.requests == []


async def test_a_rebinding_name_is_checked_on_each_new_connection(receiver: HttpReceiver) -> None:
    # First answer: an allowed address; the next: an internal one. Each connection
    # is made to what its own lookup said, after checking it.
    dns = Dns({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    client = guarded(dns, allow="127.0.0.1")
    url = f"http://rebind.test:{receiver.port}/"
    await client.request("GET", url, headers={"Connection": "close"})
    with pytest.raises(OutboundRefusedError, match=r"rebind\.test \(127\.0\.0\.2, loopback\)"):
        await client.request("GET", url)
    await client.aclose()
    assert dns.asked == ["rebind.test", "rebind.test"]
    assert len(receiver.requests) == 1


async def test_public_addresses_pass() -> None:
    dns = Dns({"shop.test": [["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]]})
    addresses = await OutboundPolicy(resolver=dns).vetted_addresses("shop.test", 443)
    assert addresses == ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


async def test_a_name_that_does_not_resolve_is_retried_not_refused() -> None:
    async def nothing(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    client = HttpClient("hooks", outbound=lambda: OutboundPolicy(resolver=nothing))
    with pytest.raises(RetryableConnectorError, match=r"could not reach gone\.test"):
        await client.request("GET", "http://gone.test/")
    await client.aclose()


async def test_address_classes() -> None:
    def of(text: str) -> str | None:
        return address_class(ipaddress.ip_address(text))

    assert of("8.8.8.8") is None and of("2606:4700::1111") is None
    assert of("::ffff:8.8.8.8") is None  # IPv4-mapped public: the public address
    assert of("127.255.0.9") == "loopback"
    assert of("0.1.2.3") == "unspecified"  # 0.0.0.0/8 reaches this host on Linux
    assert of("100.64.0.1") == "shared address space (CGNAT)"
    assert of("::127.0.0.1") == "loopback, as IPv4 inside IPv6"  # IPv4-compatible
    assert of("2002:7f00:1::") == "loopback, as IPv4 inside IPv6"  # 6to4
    assert of("2001:0:4136:e378:8000:63bf:3fff:fdd2") == (  # Teredo, client 192.0.2.45
        "not publicly routable, as IPv4 inside IPv6"
    )
    assert of("fc00::1") == "private" and of("fec0::1") == "private"
    assert of("ff02::1") == "multicast"
    assert of("192.0.2.1") == "not publicly routable"  # documentation range
    assert of("255.255.255.255") == "reserved"


# --- redirects: every hop is a request the guard checks ----------------------------------------


async def test_a_redirect_to_an_internal_address_is_refused(receiver: HttpReceiver) -> None:
    with HttpReceiver() as internal:
        receiver.respond(
            Reply(status=302, headers={"Location": f"http://127.0.0.1:{internal.port}/admin"})
        )
        policy = OutboundPolicy("localhost")  # the first hop's name is allowed, 127.0.0.1 not
        client = HttpClient("hooks", outbound=lambda: policy)
        with pytest.raises(OutboundRefusedError, match=r"127\.0\.0\.1 \(loopback\)"):
            await client.client().get(
                f"http://localhost:{receiver.port}/start", follow_redirects=True
            )
        await client.aclose()
        assert [r.path for r in receiver.requests] == ["/start"]
        assert internal.requests == []


async def test_the_webhook_connector_does_not_follow_redirects(receiver: HttpReceiver) -> None:
    with HttpReceiver() as internal:
        receiver.respond(Reply(status=307, headers={"Location": internal.url("/admin")}))
        with pytest.raises(PermanentConnectorError, match="HTTP 307, the provider redirects"):
            await post(webhook(allow="127.0.0.1"), receiver.url())
        assert internal.requests == []


# --- TLS: the name stays the name (SNI, the certificate check) --------------------------------


@dataclass
class TlsPeer:
    port: int
    server_names: list[str | None]
    hosts: list[str]


@pytest_asyncio.fixture(loop_scope="function")
async def tls_peer(tls_ca: trustme.CA) -> AsyncIterator[TlsPeer]:
    """An HTTPS server on 127.0.0.1 with a certificate for hooks.test only."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("hooks.test").configure_cert(context)
    names: list[str | None] = []
    hosts: list[str] = []

    def remember(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("host:"):
                hosts.append(line.split(":", 1)[1].strip())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield TlsPeer(port, names, hosts)


async def test_tls_keeps_the_name_for_sni_and_the_certificate(
    tls_peer: TlsPeer, tls_ca: trustme.CA
) -> None:
    trust = ssl.create_default_context()
    tls_ca.configure_trust(trust)
    dns = Dns({"hooks.test": [["127.0.0.1"]]})
    client = guarded(dns, allow="127.0.0.1", verify=trust)
    response = await client.request("GET", f"https://hooks.test:{tls_peer.port}/")
    assert response.text == "ok"
    assert tls_peer.server_names == ["hooks.test"]
    assert tls_peer.hosts == [f"hooks.test:{tls_peer.port}"]
    # The certificate is checked against the name: the bare address does not match it.
    with pytest.raises(RetryableConnectorError, match=r"could not reach 127\.0\.0\.1"):
        await client.request("GET", f"https://127.0.0.1:{tls_peer.port}/")
    await client.aclose()


# --- what is not guarded: the operator's own settings -----------------------------------------


async def test_connectors_calling_their_settings_urls_are_not_guarded(
    receiver: HttpReceiver,
) -> None:
    client = HttpClient("postmark")  # base URLs from settings: the operator's configuration
    assert not client.guarded
    await client.request("GET", receiver.url())
    await client.aclose()
    assert len(receiver.requests) == 1
    assert WebhookConnector().http.guarded
