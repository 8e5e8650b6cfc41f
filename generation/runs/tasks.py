"""Celery tasks of runs (``AURA_RUNNER=celery``): a coroutine-mode run, or one step."""

from __future__ import annotations

from celery import shared_task

from generation.runs.launch import (
    EXECUTE_RUN_TASK,
    EXECUTE_STEP_TASK,
    execute_in_background,
    run_then_wake,
    step_then_next,
)


@shared_task(name=EXECUTE_RUN_TASK, ignore_result=True, acks_late=True)
def execute_run_task(run_id: str) -> None:
    """Execute a run on this worker's run loop; returns when the run has ended."""
    execute_in_background(run_id, lambda: run_then_wake(run_id))


@shared_task(name=EXECUTE_STEP_TASK, ignore_result=True, acks_late=True)
def execute_step_task(run_id: str, step: int) -> None:
    """Execute one step of a step-mode run; returns when the step is stored. A redelivered
    message finds its step already claimed or stored and does nothing."""
    execute_in_background(run_id, lambda: step_then_next(run_id, step))
