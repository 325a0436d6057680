"""The outbound-request guard: URLs from journeys and events never reach internal addresses.

A journey can take a URL from an event's properties (``params: {url: "{{
event.properties.callback }}"}``), and anyone with a write key sends events. Without
a guard, such a URL makes the worker call what only it can reach: the cloud's
metadata service (``169.254.169.254``: credentials), the database, Temporal, the
event API's admin routes on ``127.0.0.1``. That is server-side request forgery
(OWASP's SSRF prevention cheat sheet): the defence it recommends, and this module
implements, is to resolve the host, refuse unless *every* address is public, and
connect to the address that was checked, on every hop.

For a guarded request (:class:`connectors.http.HttpClient` with ``outbound=``, which
the ``webhook`` connector uses for every request), cxflow refuses:

* schemes other than ``http`` and ``https``, and URLs with credentials
  (``user:password@host``: they would be forwarded as ``Authorization``);
* cloud metadata host names (:data:`METADATA_HOSTS`), before any DNS query;
* a host any of whose addresses (``getaddrinfo``, every answer) is loopback,
  private (RFC 1918, ``fc00::/7``), link-local (``169.254.0.0/16``, ``fe80::/10``),
  multicast, unspecified (``0.0.0.0``, ``::``), shared (CGNAT ``100.64.0.0/10``),
  reserved or otherwise not globally reachable, including IPv4 written as IPv6
  (``::ffff:127.0.0.1``, ``::127.0.0.1``), in 6to4 (``2002::/16``), Teredo
  (``2001::/32``) or NAT64 (``64:ff9b::/96``). Every spelling of an address
  (``127.1``, ``2130706433``, ``0x7f000001``) is judged by what it resolves to.

The connection then goes to the checked address (:class:`GuardedBackend` connects
to the IP, while the request keeps the host name in ``Host`` and in TLS's SNI and
certificate check), so a DNS answer that changes between the check and the connect
(DNS rebinding) changes nothing. Each redirect hop is a new request through the
same transport, checked again (the connectors do not follow redirects anyway).

A refusal is an :class:`OutboundRefusedError`, permanent: retrying cannot help.

**The allow-list.** ``CXFLOW_OUTBOUND_ALLOW`` holds the internal hosts an operator
trusts, comma-separated: host names (``hooks.internal``, or ``*.corp.example`` for
its subdomains: a name trusts whatever it resolves to), IP addresses
(``127.0.0.1``, ``::1``) and networks (``10.1.0.0/16``: trusted for any name that
resolves into them). ``cxflow dev`` and the tests allow ``127.0.0.1,localhost``
for their peers on loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio
import httpcore
import httpx

from connectors.errors import PermanentConnectorError
from connectors.models import Setting
from connectors.settings import ConnectorSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTINGS_NAME = "outbound"
ALLOW_SETTING = Setting(
    key="ALLOW",
    description="Internal hosts, IPs and CIDRs that journeys may call, comma-separated "
    "(e.g. 127.0.0.1,hooks.internal,10.1.0.0/16)",
)
ALLOW_VARIABLE = "CXFLOW_OUTBOUND_ALLOW"
ALLOWED_SCHEMES = ("http", "https")

METADATA_HOSTS = frozenset(
    {
        "metadata",  # GCP's short name
        "metadata.google.internal",
        "metadata.goog",
        "metadata.internal",
        "instance-data",  # AWS
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.platformequinix.com",
    }
)
"""Names of cloud metadata services, refused without a DNS query (their addresses,
``169.254.169.254``, ``fd00:ec2::254``, ``100.100.100.200``, are refused by class)."""

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_RFC1918 = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: every address the host resolves to, as IP strings."""


class OutboundRefusedError(PermanentConnectorError):
    """A guarded request to a host cxflow does not call from journeys; never retried."""

    code = "outbound_refused"

    def __init__(
        self,
        message: str,
        *,
        host: str,
        reason: str,
        address: str | None = None,
        connector: str | None = None,
    ) -> None:
        super().__init__(message, connector=connector)
        self.host = host
        self.reason = reason
        self.address = address

    def for_connector(self, connector: str) -> OutboundRefusedError:
        """The same refusal, its message starting with the connector's name."""
        return OutboundRefusedError(
            f"{connector}: {self.message}",
            host=self.host,
            reason=self.reason,
            address=self.address,
            connector=connector,
        )


def address_class(address: IPAddress) -> str | None:
    """Why cxflow does not call this address (``loopback``, ``private``...); None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded:
            for inner in embedded:
                found = address_class(inner)
                if found is not None:
                    return f"{found}, as IPv4 inside IPv6"
            if address.ipv4_mapped is not None or address in _NAT64:
                return None  # ::ffff:<public>, 64:ff9b::<public>: a public IPv4 address
    if address.is_unspecified or (
        isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK
    ):
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _CGNAT:
            return "shared address space (CGNAT)"
        if any(address in net for net in _RFC1918):
            return "private"
    elif address in _UNIQUE_LOCAL or address.is_site_local:
        return "private"
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64_LOCAL:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not publicly routable"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # ::a.b.c.d, IPv4-compatible (deprecated)
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(packed & 0xFFFFFFFF))
    return found


def parse_address(text: str) -> IPAddress | None:
    """An IP address in its usual notation (``[::1]`` too); None for a host name."""
    candidate = text.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class AllowList:
    """``CXFLOW_OUTBOUND_ALLOW``, parsed: names, ``*.`` suffixes and networks."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> AllowList:
        return _parse_allow(value or "")

    def allows_host(self, host: str) -> bool:
        name = _normal_host(host)
        return name in self.hosts or any(name.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.suffixes or self.networks)


@lru_cache(maxsize=32)
def _parse_allow(value: str) -> AllowList:
    hosts: set[str] = set()
    suffixes: list[str] = []
    networks: list[IPNetwork] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = _normal_host(entry)
        if name.startswith("*."):
            suffix = name[1:]
            if _is_host_name(suffix[1:]):
                suffixes.append(suffix)
                continue
        elif _is_host_name(name):
            hosts.add(name)
            continue
        raise PermanentConnectorError(
            f"{ALLOW_VARIABLE} must be a comma-separated list of host names, IP addresses "
            f"and networks, like 127.0.0.1,hooks.internal,10.1.0.0/16 (no schemes, ports "
            f"or paths), not {entry!r}",
            code="outbound_allow_invalid",
        )
    return AllowList(frozenset(hosts), tuple(suffixes), tuple(networks))


def _is_host_name(name: str) -> bool:
    labels = name.split(".")
    return bool(name) and all(
        label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label)
        for label in labels
    )


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address of ``host`` from the operating system (``getaddrinfo``), in its order."""
    answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class OutboundPolicy:
    """What a guarded request may call: public addresses, and what the allow-list trusts."""

    def __init__(self, allow: AllowList | str | None = None, resolver: Resolver | None = None):
        self.allow = allow if isinstance(allow, AllowList) else AllowList.parse(allow)
        self.resolver: Resolver = resolver or system_resolver

    @classmethod
    def from_settings(
        cls, environ: Mapping[str, str] | None = None, resolver: Resolver | None = None
    ) -> OutboundPolicy:
        """The policy of ``CXFLOW_OUTBOUND_ALLOW``, read now (from ``environ`` or the process)."""
        return cls(outbound_settings(environ).get("ALLOW"), resolver)

    def check_url(self, url: httpx.URL | str) -> httpx.URL:
        """The URL-level rules: http(s), no credentials, a host, no metadata host name."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ALLOWED_SCHEMES or not parsed.host:
            scheme = parsed.scheme if parsed is not None else ""
            raise OutboundRefusedError(
                f"refused to call {_redacted(url)}: cxflow calls http(s) URLs only"
                + (f", not {scheme}:" if scheme and scheme not in ALLOWED_SCHEMES else ""),
                host=parsed.host if parsed is not None else "",
                reason="not_http",
            )
        host = parsed.host
        if parsed.userinfo:
            raise OutboundRefusedError(
                f"refused to call {host}: the URL carries credentials (user:password@), "
                "which cxflow does not send from journeys; remove them from the URL",
                host=host,
                reason="credentials",
            )
        if _normal_host(host) in METADATA_HOSTS and not self.allow.allows_host(host):
            raise self._refusal(host, None, "a cloud metadata service")
        return parsed

    async def vetted_addresses(
        self, host: str, port: int, timeout: float | None = None
    ) -> list[str]:
        """The addresses to connect to: all of ``host``'s, once each is known to be allowed.

        Raises :class:`OutboundRefusedError` if any is not, ``httpcore.ConnectError`` if
        the name does not resolve, ``httpcore.ConnectTimeout`` if that takes too long.
        """
        if _normal_host(host) in METADATA_HOSTS and not self.allow.allows_host(host):
            raise self._refusal(host, None, "a cloud metadata service")
        literal = parse_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            deadline: AbstractContextManager[Any] = (
                anyio.fail_after(timeout) if timeout is not None else nullcontext()
            )
            try:
                with deadline:
                    addresses = await self.resolver(host, port)
            except TimeoutError as error:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from error
            except OSError as error:
                raise httpcore.ConnectError(f"could not resolve {host}: {error}") from error
            if not addresses:
                raise httpcore.ConnectError(f"{host} resolves to no address")
        if self.allow.allows_host(host):
            return addresses
        for text in addresses:
            address = parse_address(text)
            if address is None:
                raise self._refusal(host, text, "not an IP address")
            if self.allow.allows_address(address):
                continue
            why = address_class(address)
            if why is not None:
                raise self._refusal(host, text, why)
        return addresses

    def _refusal(self, host: str, address: str | None, why: str) -> OutboundRefusedError:
        if address is None or parse_address(host) is not None:
            what = f"[{host}] ({why})" if ":" in host else f"{host} ({why})"
        else:
            what = f"{host} ({address}, {why})"
        return OutboundRefusedError(
            f"refused to call {what}: cxflow does not call internal addresses from "
            f"journeys; if this host is yours, add it to {ALLOW_VARIABLE}",
            host=host,
            reason=why,
            address=address,
        )


def outbound_settings(environ: Mapping[str, str] | None = None) -> ConnectorSettings:
    """``CXFLOW_OUTBOUND_*``, read like every connector setting."""
    return ConnectorSettings(SETTINGS_NAME, (ALLOW_SETTING,), environ)


def _redacted(url: httpx.URL | str) -> str:
    """The URL for a message, without credentials or a query (they may be secrets)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL:
        return "a URL that cannot be read"
    if parsed.userinfo or parsed.query:
        parsed = parsed.copy_with(username=None, password=None, query=None)
    text = str(parsed)
    return repr(text if len(text) <= 200 else text[:199] + "…")


# --- the transport: check every request, connect to the checked address -----------------------

PolicySource = Callable[[], OutboundPolicy]
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allowed.

    httpcore asks it for a TCP connection to the URL's host; it resolves the host
    once, checks every address, and connects to those addresses (in the resolver's
    order), never to the name: what was checked is what is connected to. TLS then
    starts with the name as SNI and for the certificate check (httpcore passes it).
    """

    def __init__(self, policy: PolicySource, inner: httpcore.AsyncNetworkBackend | None = None):
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy().vetted_addresses(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefusedError(
            "refused to connect to a Unix socket from a guarded request",
            host=path,
            reason="unix_socket",
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks each request (each redirect hop) with the policy.

    It is httpx's own ``AsyncHTTPTransport`` with its connection pool on a
    :class:`GuardedBackend`; a client given a transport ignores ``HTTP(S)_PROXY``
    (a proxy would resolve the name itself, out of the guard's sight).
    """

    def __init__(
        self,
        policy: PolicySource,
        *,
        verify: Any = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self._policy = policy
        self._inner = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
        # httpx's transport takes no network backend: give its pool one (the same options).
        self._inner._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._policy().check_url(request.url)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
