from __future__ import annotations

import redis
from django.conf import settings

from generation.runs.kinds import KindSpec, PartSpec
from generation.runs.stepping import Again, Done, StepContext


def submissions_key(run_id: object) -> str:
    return f"scaleout:submitted:{run_id}"


async def waiting_step(ctx: StepContext) -> Again | Done:
    job = ctx.part("job", "External job")
    if not job.operation:
        redis.Redis.from_url(str(settings.REDIS_URL)).incr(submissions_key(ctx.run.pk))
        job.set(status="submitted", operation={"id": f"job-{ctx.run.pk}"})
        return Again(1.0, status="submitted")
    ctx.state["polls"] = int(ctx.state.get("polls", 0)) + 1
    job.set(status="running", progress=min(100, 20 * ctx.state["polls"]))
    ctx.emit("progress", {"percent": job.progress, "message": "Rendering"}, part="job")
    if ctx.state["polls"] < int(ctx.run.input.get("polls", 5)):
        return Again(1.0, status="running")
    job.set(status="succeeded")
    return Done({"job_id": job.operation["id"], "polls": ctx.state["polls"]})


WAITING = KindSpec(
    name="scaleout_waiting",
    label="Waiting job",
    step=waiting_step,
    parts=(PartSpec("job", "External job"),),
    text_part=None,
    counts_against_limits=False,
)
