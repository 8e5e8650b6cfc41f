"""``python manage.py stream --provider NAME|auto --prompt TEXT [--model M]``.

Streams one completion to the terminal: the text on stdout as it arrives, a live status line
(tokens, tokens/s, time to first token, cost) on stderr when it is a terminal, and one closing
metrics line. Exit code 0 on success; on failure a clear message and a non-zero code.
"""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation.chain.fallback import (
    AttemptStarted,
    Ledger,
    ProviderSwitch,
    stream_with_fallback,
)
from generation.chain.policy import aresolve_chain
from generation.costs.services import PriceQuote, aprice_for, cost_from_quote
from generation.costs.tokens import CHARS_PER_TOKEN
from generation.providers.base import CompletionRequest, Finish, ProviderError, TextDelta
from generation.providers.registry import UnknownProvider

STATUS_EVERY = 0.1


class Command(BaseCommand):
    help = "Stream one completion from a provider (or auto) with live metrics."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, help="A provider name, or auto.")
        parser.add_argument("--prompt", required=True, help="What to ask.")
        parser.add_argument("--model", default="", help="A model of that provider.")
        parser.add_argument("--system", default="", help="An instruction for the model.")
        parser.add_argument("--max-tokens", type=int, default=1024)
        parser.add_argument(
            "--status",
            choices=("auto", "always", "never"),
            default="auto",
            help="The live status line on stderr (auto: only on a terminal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        prompt = str(options["prompt"]).strip()
        if not prompt:
            raise CommandError("--prompt is empty: say what to write.")
        if options["max_tokens"] < 1:
            raise CommandError("--max-tokens must be at least 1.")
        request = CompletionRequest.from_prompt(
            prompt,
            system=options["system"],
            model=options["model"],
            max_tokens=options["max_tokens"],
        )
        status = options["status"]
        err: TextIO = getattr(self.stderr, "_out", sys.stderr)
        live = status == "always" or (status == "auto" and err.isatty())
        try:
            line = asyncio.run(self._stream(options["provider"], request, live, err))
        except UnknownProvider as exc:
            raise CommandError(str(exc)) from None
        except ProviderError as exc:
            raise CommandError(f"The stream failed: {exc}") from None
        self.stdout.write(line)

    async def _stream(
        self, choice: str, request: CompletionRequest, live: bool, err: TextIO
    ) -> str:
        chain = await aresolve_chain(choice)
        out: TextIO = getattr(self.stdout, "_out", sys.stdout)
        stream = stream_with_fallback(chain, request, ledger=Ledger(run_id="cli"))
        started = time.monotonic()
        first_at: float | None = None
        chars = 0
        quote: PriceQuote | None = None
        last_status = 0.0
        finish: Finish | None = None
        provider = model = ""
        async with stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    now = time.monotonic()
                    if first_at is None:
                        first_at = now
                    chars += len(event.text)
                    out.write(event.text)
                    out.flush()
                    if live and now - last_status >= STATUS_EVERY:
                        last_status = now
                        tokens = (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
                        cost = cost_from_quote(quote, 0, tokens) if quote else Decimal(0)
                        err.write(
                            "\r\x1b[2K"
                            + _status(provider, tokens, now - first_at, first_at - started, cost)
                        )
                        err.flush()
                elif isinstance(event, AttemptStarted):
                    provider, model = event.provider, event.model
                    quote = await aprice_for(provider, model)
                    started = time.monotonic()
                    if live:
                        err.write(f"\r\x1b[2K[{provider} {model}] waiting for the first token…")
                        err.flush()
                elif isinstance(event, ProviderSwitch):
                    err.write(
                        f"\r\x1b[2K[{event.from_provider} -> {event.to_provider}] {event.reason}\n"
                    )
                    err.flush()
                elif isinstance(event, Finish):
                    finish = event
        if live:
            err.write("\r\x1b[2K")
            err.flush()
        out.write("\n")
        result = stream.result
        if finish is None or result is None:
            raise CommandError("The stream ended without a finish.")
        elapsed = time.monotonic() - (first_at or started)
        ttft_ms = int(((first_at or time.monotonic()) - started) * 1000)
        tokens = finish.usage.output_tokens
        rate = tokens / elapsed if elapsed > 0 else 0.0
        return (
            f"provider={result.provider} model={result.model} ttft_ms={ttft_ms} "
            f"tokens_per_second={rate:.1f} tokens={tokens} "
            f"input_tokens={finish.usage.input_tokens} "
            f"reported={str(finish.usage.reported).lower()} cost={result.cost:f} USD"
        )


def _status(provider: str, tokens: int, streaming: float, ttft: float, cost: Decimal) -> str:
    rate = tokens / streaming if streaming > 0 else 0.0
    return (
        f"[{provider}] {tokens} tokens · {rate:.1f} tok/s · TTFT {ttft * 1000:.0f} ms · {cost} USD"
    )
