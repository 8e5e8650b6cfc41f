"""Attempt numbers count across a script run's revisions: the draft is attempt 1, each
revision the next number, in the run's state, the API and the cost records alike."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from generation.costs.models import CostRecord
from tests.api_client import api_for
from tests.scripts.test_pipeline import MISSING, start

pytestmark = pytest.mark.django_db(transaction=True)


def test_revisions_continue_the_attempt_count(
    team: Any, wait_run: Any, scripted_openai: Any
) -> None:
    scripted_openai.push(MISSING)
    _, run = start(team, provider="openai")
    run = wait_run(run.pk)
    assert run.status == "succeeded", run.error_message
    assert len(scripted_openai.bodies) == 3

    assert [a["number"] for a in run.attempts] == [1, 2, 3]
    assert {a["provider"] for a in run.attempts} == {"openai"}
    part = run.parts.get(key="main")
    assert [a["number"] for a in part.attempts] == [1, 2, 3]
    records = CostRecord.objects.filter(run_id=str(run.pk)).order_by("attempt")
    assert [r.attempt for r in records] == [1, 2, 3]

    async def state() -> Any:
        client = await api_for(team.viewer)
        return await client.get(f"/api/v1/runs/{run.pk}")

    response = async_to_sync(state)()
    assert response.status_code == 200
    assert [a["number"] for a in response.json()["attempts"]] == [1, 2, 3]
