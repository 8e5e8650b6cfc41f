"""The one checked fetch for every URL a provider, a staff member or a user hands the studio.

A video provider answers with the URL of its result; a staff member configures a provider's base
URL; a user may paste a reference image's address. Each of those URLs is fetched through
``checked_fetch``, never through a bare ``client.get``, so that a URL can never make the studio
read from its own network (a cloud metadata endpoint, a database port, an admin page on the LAN)
or swallow an endless body:

- only ``http`` and ``https``; no user name or password in the URL;
- the host is resolved and every address it resolves to is checked: private, loopback,
  link-local, multicast, reserved, unspecified, shared (100.64.0.0/10), "this network"
  (0.0.0.0/8) and any other non-global address is refused, also when it hides inside an IPv6
  form (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``), unless the
  URL's origin (scheme, host, port) is one the caller allows (``allowed_private``: a provider's
  own configured base URL, such as a ComfyUI on the LAN);
- redirects are followed by hand, each hop checked the same way, at most ``max_redirects``; the
  caller's ``headers`` (and the client's own headers, cookies and auth) go only to the origin of
  the first URL, never to another origin a redirect points at;
- the body is streamed under a hard ``max_bytes`` cap (a ``Content-Length`` above it is refused
  before any of the body is read) and the whole exchange, DNS and redirects included, under one
  ``timeout``;
- the answer must be 2xx and, when ``content_types`` is given, of one of those media types
  (parameters ignored; ``application/octet-stream`` passes only when listed).

Every refusal is a ``FetchRefused`` with a plain ``reason`` and a ``code``: ``url``, ``scheme``,
``userinfo``, ``dns``, ``private_address``, ``network``, ``timeout``, ``redirects``,
``http_status``, ``content_type``, ``too_large``.

DNS rebinding: the connection is pinned to the address that was checked. The request goes to
the checked IP itself, with the original ``Host`` header and, for https, the original name as
TLS SNI and certificate name (httpcore's ``sni_hostname`` request extension), so a name cannot
resolve to a public address for the check and to a private one for the connection. Pinned
requests ask for ``Connection: close``, so a connection opened for one name is never reused
for another name that shares its address. One residual risk remains with proxies: when the
client routes through an HTTP proxy, the proxy makes the connection (to the checked IP, since
that is what the request names), and for https through a proxy httpcore verifies the tunnelled
certificate against the IP, so such fetches fail; clients used for fetching should be built
with ``trust_env=False`` and no proxy.

``url_allowed`` is the synchronous subset for validating a configured URL in a form: the
scheme, userinfo and literal-IP checks, without DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Origin = tuple[str, str, int]

_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LEGACY_IPV4 = frozenset("0123456789abcdefx.")
_CHUNK = 64 * 1024


class FetchRefused(Exception):
    """A URL the studio will not fetch, or an answer it will not take."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetched answer. ``url`` is the final URL after redirects (with its host name, not the
    address connected to); ``content_type`` is the bare media type, lower-cased, without
    parameters (``""`` when the answer named none); ``elapsed`` is in seconds."""

    url: str
    status: int
    content_type: str
    body: bytes
    elapsed: float


def address_refusal(address: IPAddress) -> str | None:
    """Why the studio does not fetch from ``address`` (``"a loopback address"``, ``"a private
    address"``, ...), or ``None`` for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_refusal(address.ipv4_mapped)
        embedded = address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (inner := address_refusal(embedded)) is not None:
            return f"{inner} (inside {address})"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in _SHARED, "in the shared address space"),
        (address.version == 4 and address in _THIS_NETWORK, "in 0.0.0.0/8"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a globally routable address"),
    )
    for refused, name in checks:
        if refused:
            return name
    return None


def url_allowed(url: str, *, allowed_private: Iterable[str] = ()) -> str | None:
    """Why ``url`` would be refused by the checks that need no DNS (scheme, userinfo, a host
    written as a forbidden IP), or ``None`` when it passes them."""
    try:
        parsed = _parse(url)
        literal = _literal_address(parsed.host)
        if literal is not None and _origin(parsed) not in _origins(allowed_private):
            _refuse_address(parsed, literal)
    except FetchRefused as refused:
        return refused.reason
    return None


async def checked_fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    allowed_private: Iterable[str] = (),
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - the overall limit is part of the contract
    content_types: Iterable[str] | None = None,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = 5,
) -> Fetched:
    """GET ``url`` under every check of this module; see the module docstring."""
    started = time.monotonic()
    wanted = None if content_types is None else frozenset(map(_media_type, content_types))
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(
                client,
                _parse(url),
                allowed=_origins(allowed_private),
                max_bytes=max_bytes,
                wanted=wanted,
                headers=dict(headers or {}),
                max_redirects=max_redirects,
                started=started,
            )
    except TimeoutError:
        raise FetchRefused(f"the fetch took longer than {timeout:g} s", "timeout") from None


async def _fetch(
    client: httpx.AsyncClient,
    url: httpx.URL,
    *,
    allowed: frozenset[Origin],
    max_bytes: int,
    wanted: frozenset[str] | None,
    headers: dict[str, str],
    max_redirects: int,
    started: float,
) -> Fetched:
    first_origin = _origin(url)
    for hop in range(max_redirects + 1):
        addresses = await _addresses(url, allowed)
        own = _origin(url) == first_origin
        response = await _send(client, url, addresses, headers if own else None)
        try:
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchRefused(
                        f"{url.host} answered {status} with no Location", "http_status"
                    )
                if hop == max_redirects:
                    raise FetchRefused(
                        f"{url.host} redirected more than {max_redirects} times", "redirects"
                    )
                url = _parse(str(url.join(location)))
                continue
            if not 200 <= status < 300:
                raise FetchRefused(f"{url.host} answered HTTP {status}", "http_status")
            content_type = _media_type(response.headers.get("content-type", ""))
            if wanted is not None and content_type not in wanted:
                raise FetchRefused(
                    f"{url.host} sent {content_type or 'no content type'}, "
                    f"not {' or '.join(sorted(wanted))}",
                    "content_type",
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchRefused(_too_large(url, max_bytes, int(declared)), "too_large")
            body = bytearray()
            async for chunk in response.aiter_bytes(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchRefused(_too_large(url, max_bytes), "too_large")
            return Fetched(
                url=str(url),
                status=status,
                content_type=content_type,
                body=bytes(body),
                elapsed=time.monotonic() - started,
            )
        except httpx.TimeoutException as exc:
            raise FetchRefused(f"{url.host} was too slow: {exc}", "timeout") from exc
        except httpx.HTTPError as exc:
            raise FetchRefused(f"the answer from {url.host} broke off: {exc}", "network") from exc
        finally:
            await response.aclose()
    raise AssertionError("unreachable: the last hop returns or raises")


async def _send(
    client: httpx.AsyncClient,
    url: httpx.URL,
    addresses: list[str],
    headers: dict[str, str] | None,
) -> httpx.Response:
    """Send the GET to each checked address in turn until one connects. ``headers`` is
    ``None`` for a hop to a foreign origin: that request carries none of the caller's or the
    client's headers, cookies or auth."""
    pinned_headers = {
        "Accept-Encoding": "identity",
        **(headers or {}),
        "Host": url.netloc.decode("ascii"),
        "Connection": "close",
    }
    extensions: dict[str, object] = {}
    if url.scheme == "https" and _literal_address(url.host) is None:
        extensions["sni_hostname"] = url.host
    failure: Exception | None = None
    for address in addresses:
        target = url.copy_with(host=address)
        try:
            if headers is not None:
                request = client.build_request(
                    "GET", target, headers=pinned_headers, extensions=extensions
                )
                return await client.send(request, stream=True, follow_redirects=False)
            request = httpx.Request(
                "GET",
                target,
                headers=pinned_headers,
                extensions={**extensions, "timeout": client.timeout.as_dict()},
            )
            return await client.send(request, stream=True, follow_redirects=False, auth=None)
        except httpx.ConnectError as exc:
            failure = exc
        except httpx.TimeoutException as exc:
            raise FetchRefused(f"{url.host} was too slow: {exc}", "timeout") from exc
        except httpx.HTTPError as exc:
            raise FetchRefused(f"could not fetch from {url.host}: {exc}", "network") from exc
    raise FetchRefused(f"could not connect to {url.host}: {failure}", "network")


async def _addresses(url: httpx.URL, allowed: frozenset[Origin]) -> list[str]:
    """The checked addresses to connect to for ``url``, in the resolver's order."""
    trusted = _origin(url) in allowed
    literal = _literal_address(url.host)
    if literal is not None:
        if not trusted:
            _refuse_address(url, literal)
        return [str(literal)]
    port = url.port or _DEFAULT_PORTS[url.scheme]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"could not resolve {url.host}: {exc}", "dns") from exc
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address not in found:
            found.append(address)
    if not found:
        raise FetchRefused(f"{url.host} resolves to no address", "dns")
    if not trusted:
        for address in found:
            _refuse_address(url, address)
    return [str(address) for address in found]


def _refuse_address(url: httpx.URL, address: IPAddress) -> None:
    why = address_refusal(address)
    if why is None:
        return
    named = str(address) if str(address) == url.host else f"{url.host} ({address})"
    raise FetchRefused(f"{named} is {why}, which the studio does not fetch from", "private_address")


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused(f"not a valid URL: {exc}", "url") from exc
    if parsed.scheme not in _SCHEMES:
        shown = parsed.scheme or "no scheme"
        raise FetchRefused(f"the studio fetches only http and https URLs, not {shown}", "scheme")
    if parsed.userinfo:
        raise FetchRefused("a URL with a user name or password is not fetched", "userinfo")
    if not parsed.host:
        raise FetchRefused("the URL names no host", "url")
    return parsed.copy_with(fragment=None)


def _literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP stands for, including the legacy IPv4 forms the
    resolver accepts (``127.1``, ``0x7f.0.0.1``, ``2130706433``)."""
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        pass
    if host and set(host.lower()) <= _LEGACY_IPV4 and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _origin(url: httpx.URL) -> Origin:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0))


def _origins(urls: Iterable[str]) -> frozenset[Origin]:
    origins = set()
    for text in urls:
        try:
            parsed = httpx.URL(text)
        except (httpx.InvalidURL, TypeError, ValueError):
            continue
        if parsed.scheme in _SCHEMES and parsed.host:
            origins.add(_origin(parsed))
    return frozenset(origins)


def _media_type(value: str) -> str:
    return value.partition(";")[0].strip().lower()


def _too_large(url: httpx.URL, max_bytes: int, declared: int | None = None) -> str:
    size = f" ({declared} bytes)" if declared is not None else ""
    return f"the answer from {url.host}{size} is larger than the {max_bytes}-byte limit"
