"""The checked fetch against real loopback HTTP servers (and, for the URLs that must be refused
before any connection, a client whose transport records every request it is asked to send)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from aura_site.fetch import FetchRefused, checked_fetch, url_allowed
from tests.fakes.providers import HANG, FakeProviderServer, Pause, Reply

MP4 = {"content-type": "video/mp4"}
BODY = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
def other() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(5.0)) as http:
        yield http


class Recorder:
    """A transport that answers nothing and records what reached it."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, headers=MP4, content=BODY)


async def fetch(client: httpx.AsyncClient, url: str, **options: object) -> bytes:
    settings: dict[str, object] = {"max_bytes": 1_000_000, "timeout": 5.0, **options}
    fetched = await checked_fetch(client, url, **settings)  # type: ignore[arg-type]
    return fetched.body


async def refusal(client: httpx.AsyncClient, url: str, **options: object) -> FetchRefused:
    with pytest.raises(FetchRefused) as refused:
        await fetch(client, url, **options)
    return refused.value


FORBIDDEN = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.7/clip.mp4",
    "http://172.16.4.2/clip.mp4",
    "http://192.168.1.20:8188/view?filename=clip.mp4",
    "http://127.0.0.1/clip.mp4",
    "http://127.1/clip.mp4",
    "http://2130706433/clip.mp4",
    "http://0x7f000001/clip.mp4",
    "http://[::1]/clip.mp4",
    "http://[fe80::1]/clip.mp4",
    "http://[fc00::5]/clip.mp4",
    "http://[::ffff:127.0.0.1]/clip.mp4",
    "http://[::ffff:169.254.169.254]/clip.mp4",
    "http://[2002:7f00:1::]/clip.mp4",
    "http://[64:ff9b::a9fe:a9fe]/clip.mp4",
    "http://100.64.0.1/clip.mp4",
    "http://0.0.0.0/clip.mp4",
    "http://0.1.2.3/clip.mp4",
    "http://224.0.0.1/clip.mp4",
    "http://240.0.0.1/clip.mp4",
    "https://[::]/clip.mp4",
]


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_a_forbidden_address_is_refused_without_any_connection(url: str) -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        refused = await refusal(client, url)

    assert refused.code == "private_address"
    assert recorder.requests == []
    assert url_allowed(url) == refused.reason


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/clip.mp4", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("data:video/mp4;base64,AAAAGGZ0eXBtcDQy", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("example.com/clip.mp4", "scheme"),
        ("http://user:secret@example.com/clip.mp4", "userinfo"),
        ("http://example.com\\@127.0.0.1/clip.mp4", "userinfo"),
        ("http:///clip.mp4", "url"),
        ("http://example.com/\x00", "url"),
    ],
)
async def test_a_url_that_is_not_plain_http_is_refused(url: str, code: str) -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as client:
        refused = await refusal(client, url)

    assert refused.code == code
    assert recorder.requests == []
    assert url_allowed(url) == refused.reason


COMFY = "http://192.168.1.20:8188"


@pytest.mark.parametrize(
    ("url", "allowed", "passes"),
    [
        ("https://cdn.example.com/renders/clip.mp4", [], True),
        ("http://93.184.215.14/clip.mp4", [], True),
        ("http://[2606:2800:220:1:248:1893:25c8:1946]/clip.mp4", [], True),
        (COMFY + "/view?filename=clip.mp4", [COMFY], True),
        (COMFY + "/view", [COMFY + "/"], True),
        ("HTTP://192.168.1.20:8188/view", [COMFY], True),
        ("http://192.168.1.20:8188/", ["http://192.168.1.20:9000"], False),
        ("https://192.168.1.20:8188/", [COMFY], False),
        ("http://user@192.168.1.20:8188/", [COMFY], False),
        ("http://192.168.1.20:8188/", ["not a url"], False),
    ],
)
def test_url_allowed_lets_public_urls_and_allowed_origins_through(
    url: str, allowed: list[str], passes: bool
) -> None:
    assert (url_allowed(url, allowed_private=allowed) is None) is passes


async def test_a_loopback_server_is_refused_unless_its_origin_is_allowed(
    fake: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(200, MP4, [BODY]))

    refused = await refusal(client, fake.url("/clip.mp4"))
    assert refused.code == "private_address"
    assert fake.requests == []

    fetched = await checked_fetch(
        client,
        fake.url("/clip.mp4"),
        allowed_private=[fake.base_url],
        max_bytes=1_000_000,
        timeout=5.0,
        content_types=["video/mp4"],
    )
    assert fetched.body == BODY
    assert fetched.status == 200
    assert fetched.content_type == "video/mp4"
    assert fetched.url == fake.url("/clip.mp4")
    assert fetched.elapsed > 0
    assert [request.path for request in fake.requests] == ["/clip.mp4"]


async def test_another_port_of_an_allowed_host_is_not_allowed(
    fake: FakeProviderServer, other: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    refused = await refusal(client, other.url("/clip.mp4"), allowed_private=[fake.base_url])

    assert refused.code == "private_address"
    assert other.requests == []


async def test_a_name_is_resolved_and_the_connection_pinned_to_the_checked_address(
    fake: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(200, MP4, [BODY]))
    port = httpx.URL(fake.base_url).port
    by_name = f"http://localhost:{port}"

    refused = await refusal(client, by_name + "/clip.mp4")
    assert refused.code == "private_address"
    assert "localhost" in refused.reason

    body = await fetch(client, by_name + "/clip.mp4", allowed_private=[by_name])
    assert body == BODY
    (request,) = fake.requests
    assert request.headers["host"] == f"localhost:{port}"
    assert request.headers["connection"] == "close"


async def test_a_redirect_to_a_private_address_is_refused_at_the_hop(
    fake: FakeProviderServer, other: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(302, {"location": other.url("/internal")}))
    other.push(Reply(200, MP4, [BODY]))

    refused = await refusal(client, fake.url("/clip.mp4"), allowed_private=[fake.base_url])

    assert refused.code == "private_address"
    assert len(fake.requests) == 1
    assert other.requests == []


async def test_redirects_are_followed_and_the_headers_stay_with_their_origin(
    fake: FakeProviderServer, other: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(301, {"location": "/moved"}), Reply(307, {"location": other.url("/cdn")}))
    other.push(Reply(200, MP4, [BODY]))

    fetched = await checked_fetch(
        client,
        fake.url("/clip.mp4"),
        allowed_private=[fake.base_url, other.base_url],
        max_bytes=1_000_000,
        timeout=5.0,
        headers={"Authorization": "Bearer provider-key"},
    )

    assert fetched.body == BODY
    assert fetched.url == other.url("/cdn")
    assert [request.path for request in fake.requests] == ["/clip.mp4", "/moved"]
    assert all(r.headers["authorization"] == "Bearer provider-key" for r in fake.requests)
    (hop,) = other.requests
    assert "authorization" not in hop.headers


async def test_too_many_redirects_are_refused(
    fake: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(302, {"location": "/again"}))

    refused = await refusal(client, fake.url("/"), allowed_private=[fake.base_url], max_redirects=3)

    assert refused.code == "redirects"
    assert len(fake.requests) == 4


@pytest.mark.parametrize(
    ("reply", "options", "code"),
    [
        (Reply(404, {"content-type": "text/html"}, [b"<h1>gone</h1>"]), {}, "http_status"),
        (Reply(500, {"content-type": "application/json"}, [b"{}"]), {}, "http_status"),
        (Reply(302, {}), {}, "http_status"),
        (Reply(302, {"location": "ftp://example.com/clip.mp4"}), {}, "scheme"),
        (Reply(302, {"location": "http://[::1"}), {}, "network"),
        (
            Reply(200, {"content-type": "text/html"}, [b"<html>"]),
            {"content_types": ["video/mp4"]},
            "content_type",
        ),
        (
            Reply(200, {"content-type": "application/octet-stream"}, [BODY]),
            {"content_types": ["video/mp4", "video/webm"]},
            "content_type",
        ),
        (Reply(200, {}, [BODY]), {"content_types": ["video/mp4"]}, "content_type"),
        (
            Reply(200, {**MP4, "content-length": "5000000"}, [b"tiny"]),
            {"max_bytes": 1_000_000},
            "too_large",
        ),
    ],
    ids=[
        "404",
        "500",
        "redirect-without-location",
        "redirect-to-ftp",
        "redirect-to-a-broken-url",
        "html-for-a-video",
        "octet-stream-not-listed",
        "no-content-type",
        "content-length-over-the-cap",
    ],
)
async def test_an_answer_the_studio_does_not_take_is_refused(
    fake: FakeProviderServer,
    client: httpx.AsyncClient,
    reply: Reply,
    options: dict[str, object],
    code: str,
) -> None:
    fake.push(reply)

    refused = await refusal(
        client, fake.url("/clip.mp4"), allowed_private=[fake.base_url], **options
    )

    assert refused.code == code


@pytest.mark.parametrize(
    ("content_type", "listed"),
    [
        ("video/mp4", ["video/mp4"]),
        ("Video/MP4; codecs=avc1.640028", ["video/mp4"]),
        ("application/octet-stream", ["video/mp4", "application/octet-stream"]),
    ],
)
async def test_a_listed_content_type_passes_with_its_parameters_ignored(
    fake: FakeProviderServer, client: httpx.AsyncClient, content_type: str, listed: list[str]
) -> None:
    fake.push(Reply(200, {"content-type": content_type}, [BODY]))

    fetched = await checked_fetch(
        client,
        fake.url("/clip.mp4"),
        allowed_private=[fake.base_url],
        max_bytes=1_000_000,
        timeout=5.0,
        content_types=listed,
    )

    assert fetched.content_type == content_type.partition(";")[0].lower()
    assert fetched.body == BODY


async def test_a_chunked_body_over_the_cap_is_stopped_midway(
    fake: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(200, MP4, [b"x" * 65536] * 4 + [HANG], end="hang"))

    started = time.monotonic()
    refused = await refusal(
        client, fake.url("/clip.mp4"), allowed_private=[fake.base_url], max_bytes=100_000
    )

    assert refused.code == "too_large"
    assert time.monotonic() - started < 2
    assert await fake.await_disconnects(1, within=5)


async def test_a_body_exactly_at_the_cap_is_taken(
    fake: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(200, MP4, [BODY]))

    body = await fetch(
        client, fake.url("/clip.mp4"), allowed_private=[fake.base_url], max_bytes=len(BODY)
    )

    assert body == BODY


async def test_a_slow_body_past_the_timeout_is_refused(
    fake: FakeProviderServer, client: httpx.AsyncClient
) -> None:
    fake.push(Reply(200, MP4, [b"x" * 1024, Pause(5.0), b"y" * 1024]))

    started = time.monotonic()
    refused = await refusal(
        client, fake.url("/clip.mp4"), allowed_private=[fake.base_url], timeout=0.5
    )

    assert refused.code == "timeout"
    assert time.monotonic() - started < 2
    assert await fake.await_disconnects(1, within=5)


async def test_a_closed_port_of_an_allowed_origin_is_a_network_error(
    client: httpx.AsyncClient,
) -> None:
    with FakeProviderServer() as gone:
        url = gone.url("/clip.mp4")
        origin = gone.base_url

    refused = await refusal(client, url, allowed_private=[origin])

    assert refused.code == "network"


async def test_a_name_that_does_not_resolve_is_a_dns_error(client: httpx.AsyncClient) -> None:
    refused = await refusal(client, "https://no-such-host.invalid/clip.mp4")

    assert refused.code == "dns"
