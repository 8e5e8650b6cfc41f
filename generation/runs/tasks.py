"""Celery tasks of runs (``AURA_RUNNER=celery``)."""

from __future__ import annotations

from celery import shared_task

from generation.runs import runner


@shared_task(name="runs.execute_run", ignore_result=True, acks_late=True)
def execute_run_task(run_id: str) -> None:
    """Execute a run on this worker's run loop; returns when the run has ended."""
    runner.execute_in_background(run_id)
