"""Hostile model output: XSS payloads a model (or a provider's metadata) may send, and a
loopback OpenAI fake that answers every script and roundtable step with them.

Every payload carries ``MARKER`` where it would act: a handler that would set
``window.__pwned``, a URL whose path holds the marker, a script body. So a page (or an HTML
fragment) is safe when the marker appears only as text: never in a script or style body, never
in an event-handler, ``style`` or htmx attribute, never in a URL the browser would load
(``audit_html`` checks a fragment; the browser test checks what Chromium did).

``PAYLOADS`` are one line each and hold no ``|`` (so one fits a Markdown table cell);
``BLOCKS`` are multi-line (broken markup across lines, fenced code). ``hostile_script()`` is a
script in the studio's section format with a payload in every heading and paragraph;
``HostileTable`` answers a roundtable's steps (the judge with a hostile debate topic, the shot
list as a Markdown table of hostile cells) and a script request with ``hostile_script()``.
"""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

from generation.benchmarks.fake_table import AGENT_NAMES, _step
from generation.benchmarks.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

MARKER = "pwned"
JS = "window.__pwned=1"
"""What every script payload would run: the browser test checks the flag is never set."""

PAYLOADS: dict[str, str] = {
    "script": f"<script>{JS}</script>",
    "script-src": "<script src=/pwned.js></script>",
    "script-split": f"<scr<script>ipt>{JS}</scr</script>ipt>",
    "img-onerror": f"<img src=x onerror={JS}>",
    "img-quoted": f'<img src="x" onerror="{JS}" alt="pwned">',
    "body-onload": f"<body onload={JS}>",
    "div-onmouseover": f'<div onmouseover="{JS}" style="position:fixed;inset:0">pwned</div>',
    "attribute-breakout": f'" onfocus="{JS}" autofocus x="',
    "single-breakout": f"' onfocus='{JS}' autofocus x='",
    "a-javascript": f'<a href="javascript:{JS}">pwned link</a>',
    "a-javascript-entities": '<a href="jav&#x61;script&#58;window.__pwned=1">pwned entity</a>',
    "a-data-url": '<a href="data:text/html,<script>window.__pwned=1</script>">pwned data</a>',
    "svg-onload": f"<svg onload={JS}><circle r=5 /></svg>",
    "svg-animate": f'<svg><animate onbegin="{JS}" attributeName=x dur=1s /></svg>',
    "svg-use": '<svg><use href="data:image/svg+xml,<svg id=x onload=pwned()>#x" /></svg>',
    "svg-foreign": f"<svg><foreignObject><img src=x onerror={JS}></foreignObject></svg>",
    "mathml": f'<math><mtext><table><mglyph><style><img src=x onerror="{JS}">',
    "mathml-href": f'<math href="javascript:{JS}"><mi>pwned</mi></math>',
    "iframe": "<iframe src=/pwned-frame></iframe>",
    "iframe-srcdoc": f'<iframe srcdoc="<script>{JS}</script>"></iframe>',
    "object": "<object data=/pwned-object></object>",
    "embed": "<embed src=/pwned-embed>",
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=/pwned-refresh">',
    "base-href": '<base href="/pwned-base/">',
    "form-action": '<form action="/pwned-form"><button>pwned submit</button></form>',
    "button-formaction": '<button formaction="/pwned-formaction">pwned</button>',
    "input-autofocus": f"<input autofocus onfocus={JS}>",
    "details-ontoggle": f"<details open ontoggle={JS}><summary>pwned</summary></details>",
    "video-onerror": f"<video><source onerror={JS}></video>",
    "link-stylesheet": '<link rel="stylesheet" href="/pwned.css">',
    "style-import": "<style>@import url(/pwned-import.css);</style>",
    "style-attr": '<p style="background:url(/pwned-bg.png)">pwned style</p>',
    "css-expression": '<div style="width:expression(window.__pwned=1)">pwned</div>',
    "hx-get": '<div hx-get="/pwned-hx" hx-trigger="load">pwned hx</div>',
    "hx-post": '<button hx-post="/pwned-post" hx-trigger="load">pwned</button>',
    "hx-on": f'<div hx-on:htmx:load="{JS}" hx-on::load="{JS}">pwned hx-on</div>',
    "hx-trigger-every": '<span hx-get="/pwned-every" hx-trigger="every 1s">pwned</span>',
    "data-hx": '<div data-hx-get="/pwned-data-hx" data-hx-trigger="load">pwned</div>',
    "hx-swap-oob": '<div id="run-1-text" hx-swap-oob="true">pwned oob</div>',
    "hx-vals-js": '<div hx-get="/pwned-vals" hx-vals="js:{a:window.__pwned=1}">pwned</div>',
    "ws-send": '<form ws-send hx-trigger="load">pwned ws</form>',
    "template-var": "{{ request.user.password }} {{ 7|add:'7' }} pwned",
    "template-tag": "{% csrf_token %}{% debug %}{% load static %} pwned",
    "template-comment": "{# pwned #} {{ settings.SECRET_KEY }}",
    "jinja": "{{ ''.__class__.__mro__ }} ${7*7} #{7*7} pwned",
    "markdown-link": f"[pwned link](javascript:{JS})",
    "markdown-link-ref": "[pwned ref][x] and [x]: javascript:window.__pwned=1",
    "markdown-image": "![pwned](/pwned-image.png)",
    "markdown-image-onerror": f'![pwned](x" onerror="{JS})',
    "markdown-autolink": "<javascript:window.__pwned=1> <https://evil.example/pwned>",
    "markdown-html": f"**bold** <b onclick={JS}>pwned</b>",
    "comment": f"<!-- --><script>{JS}</script> -->",
    "cdata": f"<![CDATA[><script>{JS}</script>]]>",
    "noscript": f'<noscript><p title="</noscript><img src=x onerror={JS}>">',
    "textarea-breakout": f"</textarea><script>{JS}</script>",
    "title-breakout": f"</title><script>{JS}</script>",
    "entities": "&lt;script&gt;pwned&lt;/script&gt; &amp;lt;",
    "unicode": "\u202epwned\u202c \u2028line\u2029 \ufeff",
    "null-byte": "<scr\x00ipt>pwned</scr\x00ipt>",
    "url-external": "https://evil.example/pwned.png //evil.example/pwned",
    "vtt-arrow": "00:00:00.000 --> 00:00:09.000 pwned <c.x>cue</c> <v Evil>voice</v>",
}
"""One-line payloads by name."""

BLOCKS: dict[str, str] = {
    "broken-markup": f'<div class="x\n<img src=x\nonerror={JS}\n>pwned',
    "unclosed": f"<a href='javascript:{JS}'\n<b>pwned\n<svg><script>{JS}",
    "fenced": f"```html\n<script>{JS}</script>\n```",
}

ALL: dict[str, str] = {**PAYLOADS, **BLOCKS}

VISIBLE = ("<script>", "onerror=", "javascript:", "hx-get=", "{{", "{%", "<iframe")
"""Literal pieces of payloads a page showing the text as text must contain in its text."""


def payload_lines() -> list[str]:
    return [f"{name}: {text}" for name, text in PAYLOADS.items()]


def hostile_script() -> str:
    """A script in the studio's section format, a payload in every heading and paragraph."""
    items = list(ALL.items())
    headings = ("Hook", "Setup", "Body", "Payoff", "Call to action")
    size = -(-len(items) // len(headings))
    parts = []
    for index, heading in enumerate(headings):
        chunk = items[index * size : (index + 1) * size]
        heading_payload = chunk[0][1].splitlines()[0] if chunk else ""
        parts.append(f"## {heading} {heading_payload}")
        parts.extend(f"{name}: {text}" for name, text in chunk)
        parts.append("")
    return "\n\n".join(parts).strip() + "\n"


def hostile_shot_table(seconds: int = 30) -> str:
    cells = [text for text in PAYLOADS.values() if "|" not in text and "\n" not in text]
    rows = [
        "| # | Shot type | Description | Duration (s) | Camera | Lens | Lighting | Color |"
        " On-screen text |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    count = 4
    durations = [seconds // count] * count
    durations[-1] += seconds - sum(durations)
    for number, duration in enumerate(durations, start=1):
        pick = [cells[(number * 7 + k) % len(cells)] for k in range(7)]
        rows.append(
            f"| {number} | {pick[0]} | {pick[1]} | {duration} | {pick[2]} | {pick[3]} |"
            f" {pick[4]} | {pick[5]} | {pick[6]} |"
        )
    return "\n".join(rows) + "\n"


def pieces(text: str, size: int = 7) -> list[str]:
    """``text`` cut into deltas of ``size`` characters: tags and entities split across them."""
    return [text[i : i + size] for i in range(0, len(text), size)]


HOSTILE_MODEL = '<img src=x onerror="window.__pwned=1">gpt-pwned'
"""The ``model`` field the fake reports: provider metadata is model output too."""


HOSTILE_ERROR = f"{PAYLOADS['script']} {PAYLOADS['hx-get']} {PAYLOADS['img-onerror']}"
"""The error message of a failing provider: it reaches the switch reason and the run's error."""


def hostile_answer(step: str, body: dict[str, Any]) -> str:
    system = str(body.get("messages", [{}])[0].get("content", ""))
    if "scriptwriter" in system:
        return hostile_script()
    if step == "judge":
        return json.dumps(
            {
                "challenger": "director",
                "responder": "editor",
                "topic": PAYLOADS["img-onerror"] + " " + PAYLOADS["hx-get"],
                "strength": 0.95,
            }
        )
    if step == "shots":
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        found = re.search(r"add up to exactly (\d+)", text)
        return hostile_shot_table(int(found.group(1)) if found else 30)
    return "\n".join(payload_lines()) + "\n\n" + "\n\n".join(BLOCKS.values()) + "\n"


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-hostile",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class HostileTable:
    """An OpenAI chat-completions fake (PROTOCOLS.md §1) in a background thread that streams
    hostile text for every script and roundtable request, ``size`` characters a delta and
    ``delay`` seconds apart, reporting ``HOSTILE_MODEL`` as its model; the first
    ``fail_first`` requests get a 503 whose error message is ``HOSTILE_ERROR``."""

    def __init__(self, *, size: int = 40, delay: float = 0.005, fail_first: int = 0) -> None:
        self.size = size
        self.delay = delay
        self.fail_first = fail_first
        """How many requests to answer first with a 503 whose message is hostile."""
        self.steps: list[str] = []
        self.server = LoopbackServer(self._handle)

    @property
    def base_url(self) -> str:
        return f"{self.server.base_url}/v1"

    def __enter__(self) -> HostileTable:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    async def _handle(self, request: LoopbackRequest, response: LoopbackResponse) -> None:
        if not request.path.endswith("/chat/completions") or request.method != "POST":
            await response.send_json(404, {"error": {"message": "Not found"}})
            return
        body = request.json() or {}
        step, who = _step(body)
        self.steps.append(f"{step}:{who}" if who in AGENT_NAMES.values() else step)
        if self.fail_first > 0:
            self.fail_first -= 1
            error = {"message": HOSTILE_ERROR, "type": "server_error", "param": None, "code": None}
            await response.send_json(503, {"error": error})
            return
        text = hostile_answer(step, body)
        await response.start(200, {"content-type": "text/event-stream; charset=utf-8"})
        await response.write(_chunk(HOSTILE_MODEL, {"role": "assistant", "content": ""}))
        count = 0
        for piece in pieces(text, self.size):
            await response.write(_chunk(HOSTILE_MODEL, {"content": piece}))
            count += 1
            if self.delay:
                await asyncio.sleep(self.delay)
        await response.write(_chunk(HOSTILE_MODEL, {}, "stop"))
        usage = {
            "id": "chatcmpl-hostile",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": HOSTILE_MODEL,
            "choices": [],
            "usage": {"prompt_tokens": 50, "completion_tokens": count, "total_tokens": 50 + count},
        }
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.end()


# ---- auditing HTML ---------------------------------------------------------------------------

_TEXT_ATTRIBUTES = {"title", "value", "alt", "placeholder", "aria-label", "download"}
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "srcset", "content"}
_RAW_TEXT = {"script", "style"}


def _url_is_safe(value: str) -> bool:
    """A same-origin path (or a query of this page) whose path part holds no marker: the
    marker may sit in its query, as a prefilled form field's value or a list filter."""
    stripped = value.strip()
    if stripped.startswith("?"):
        return True
    if not stripped.startswith("/") or stripped.startswith("//"):
        return False
    return MARKER not in unquote(urlsplit(stripped).path)


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.open_raw: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _RAW_TEXT:
            self.open_raw.append(tag)
        for name, raw in attrs:
            value = raw or ""
            if MARKER not in value.lower() and not name.startswith("hx-on"):
                if tag == "meta" and value.lower() == "refresh":
                    self.problems.append("<meta http-equiv=refresh>")
                continue
            if name in _TEXT_ATTRIBUTES or (
                name.startswith("data-") and not name.startswith("data-hx")
            ):
                continue
            if name in _URL_ATTRIBUTES and _url_is_safe(value):
                continue
            self.problems.append(f"<{tag} {name}={value!r}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _RAW_TEXT and self.open_raw:
            self.open_raw.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.open_raw and self.open_raw[-1] == tag:
            self.open_raw.pop()

    def handle_data(self, data: str) -> None:
        if self.open_raw and MARKER in data.lower():
            self.problems.append(f"<{self.open_raw[-1]}> holding {data[:80]!r}")
        elif not self.open_raw:
            self.text.append(data)


def audit_html(html: str) -> tuple[list[str], str]:
    """The problems in ``html`` (markup a payload made live) and its text as a browser shows
    it (the ``VISIBLE`` pieces of the payloads should be in it)."""
    audit = _Audit()
    audit.feed(html)
    audit.close()
    return audit.problems, "".join(audit.text)


def hostile_video_states() -> tuple[list[Any], list[Any]]:
    """Two jobs' states for the custom video server fake (``FakeNeura.next_job``): one that
    renders under a hostile status word then fails with a hostile code and message, one that
    completes with hostile metadata (a ``javascript:`` thumbnail, markup for its sizes)."""
    failing = [
        {"status": PAYLOADS["img-onerror"], "progress": 0.3},
        {
            "status": "failed",
            "error": {
                "code": PAYLOADS["hx-get"],
                "message": PAYLOADS["script"] + " " + PAYLOADS["a-javascript"],
                "retryable": False,
            },
        },
    ]
    completing = [
        {"status": "processing", "progress": 0.5},
        {
            "status": "completed",
            "thumbnail_url": f"javascript:{JS}",
            "width": PAYLOADS["svg-onload"],
            "height": PAYLOADS["hx-on"],
            "fps": PAYLOADS["template-var"],
            "duration": PAYLOADS["meta-refresh"],
            "cost_usd": PAYLOADS["style-attr"],
        },
    ]
    return failing, completing
