"""Settings of runs. The API.md variables are read in ``aura_site.settings``; these tunables
are Django settings with defaults (tests and the scale-out settings shrink them)."""

from __future__ import annotations

from django.conf import settings


def heartbeat_seconds() -> float:
    return float(getattr(settings, "AURA_RUN_HEARTBEAT_SECONDS", 5.0))


def step_lease_seconds() -> float:
    """How long a claim on a step holds without being renewed. The process executing the step
    renews it with every heartbeat, so a step whose process died is taken over this long after
    that process's last heartbeat, however long the step may take."""
    return float(getattr(settings, "AURA_RUN_STEP_LEASE_SECONDS", 30.0))


def stale_seconds() -> float:
    """A running run whose heartbeat is older than this is interrupted by the reaper."""
    return float(getattr(settings, "AURA_RUN_STALE_SECONDS", 40.0))


def queued_stale_seconds() -> float:
    """A run still queued (never picked up by a worker) after this long is interrupted."""
    return float(getattr(settings, "AURA_RUN_QUEUED_STALE_SECONDS", 600.0))


def reap_interval_seconds() -> float:
    return float(getattr(settings, "AURA_RUN_REAP_INTERVAL_SECONDS", 10.0))


def keepalive_seconds() -> float:
    """Idle time after which an SSE stream sends a ``: keep-alive`` comment."""
    return float(getattr(settings, "AURA_SSE_KEEPALIVE_SECONDS", 15.0))


def idle_poll_seconds() -> float:
    """Idle time after which a follower re-reads the stored log (a live message may be lost)."""
    return float(getattr(settings, "AURA_RUN_IDLE_POLL_SECONDS", 2.0))


def cancel_wait_seconds() -> float:
    """How long a cancel request waits for the run to reach its terminal state."""
    return float(getattr(settings, "AURA_RUN_CANCEL_WAIT_SECONDS", 5.0))


def switch_interval_seconds() -> float:
    """The interpreter's thread switch interval in a process that executes runs (0: Python's
    own, 5 ms). The runs' database thread gives up the GIL at every SQLite call; while the event
    loop's thread computes, each call then waits up to a whole interval to get it back, which at
    a thousand waiting video jobs made every step seconds late."""
    return float(getattr(settings, "AURA_RUN_SWITCH_INTERVAL_SECONDS", 0.0005))


def step_overdue_seconds() -> float:
    """A step-mode run whose next step is this late (its timer or message was lost with a
    process) is relaunched by the reaper."""
    return float(getattr(settings, "AURA_RUN_STEP_OVERDUE_SECONDS", 30.0))
