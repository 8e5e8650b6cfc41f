"""``POST /bench/runs/stream``: start a benchmark run and stream it as SSE (as the script route
does for a script). Body: ``project``, ``prompt``, ``parts`` (1: one part; more: that many
parts at once). Served only under the benchmark's settings."""

from __future__ import annotations

import functools
import json
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aura_site.accounts.auth import auser_from_request
from aura_site.projects.models import Role
from aura_site.projects.selectors import project_for_user
from generation.benchmarks.kinds import BENCH, BENCH_PARTS
from generation.chain.policy import provider_choose
from generation.runs import launch
from generation.runs.api import sse_response
from generation.runs.events import writer_for_loop
from generation.runs.services import RunDraft, RunLimitExceeded, run_create, run_prepare


def _draft(user: Any, body: dict[str, Any]) -> RunDraft:
    project, _ = project_for_user(user, int(body["project"]), minimum=Role.EDITOR)
    parts = max(1, min(20, int(body.get("parts") or 1)))
    choice = provider_choose(str(body.get("provider") or "openai"))
    return run_prepare(
        user=user,
        project=project,
        kind=BENCH if parts == 1 else BENCH_PARTS,
        input={"prompt": str(body.get("prompt") or ""), "parts": parts, "provider": "openai"},
        provider_requested=choice.requested,
        provider=choice.provider,
        model=choice.model,
        expected_tokens=int(body.get("expected_tokens") or 0),
    )


@login_not_required
@csrf_exempt
@require_POST
async def bench_stream(request: HttpRequest) -> HttpResponseBase:
    launch.note_loop()
    user = await auser_from_request(request)
    if user is None:
        return JsonResponse({"error": {"code": "unauthenticated"}}, status=401)
    try:
        body = json.loads(request.body or b"{}")
        draft = await sync_to_async(_draft)(user, body)
        run = await writer_for_loop().run_sync(functools.partial(run_create, draft))
    except RunLimitExceeded as exc:
        response = JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except (Http404, PermissionDenied, KeyError, ValueError) as exc:
        return JsonResponse({"error": {"code": "bad_request", "message": str(exc)}}, status=400)
    return sse_response(run.pk, 0)
