"""Which target and which share of the arrival schedule a worker runs: an A/B plan (``targets:``)
gives every worker one target. Pure; the local runner and the cloud workflow cut the same way.

``target_load: each``: every target gets the whole schedule; its workers are every n-th worker
(worker i runs target i mod n, as share i div n of that target's schedule). ``split``: the workers
share one schedule as usual and worker i sends its share to target i mod n, so with a worker count
that is a multiple of n every target gets 1/n of the arrivals and users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from surge.plan import Plan


@dataclass(frozen=True)
class Lane:
    target: str | None  # the A/B target's name; None: a plan with one target
    plan: Plan  # the plan as this worker runs it (an A/B plan sent to its target's URL)
    shard: int  # this worker's share of the schedule it runs
    shards: int


def worker_count(plan: Plan, schedule_shards: int) -> int:
    """Workers to start for a load that one schedule cut into ``schedule_shards`` shares would
    need: as many for each target (each), or the next multiple of the target count (split)."""
    n = len(plan.targets)
    if n == 0:
        return schedule_shards
    if plan.target_load == "each":
        return max(1, schedule_shards) * n
    return max(n, math.ceil(schedule_shards / n) * n)


def lane_of(plan: Plan, shard: int, shards: int) -> Lane:
    """What worker ``shard`` of ``shards`` (a count worker_count gave) runs."""
    if not plan.targets:
        return Lane(None, plan, shard, shards)
    names = list(plan.targets)
    n = len(names)
    if shards % n:
        raise ValueError(f"{shards} workers cannot be shared out among {n} targets evenly")
    name = names[shard % n]
    if plan.target_load == "each":
        return Lane(name, plan.for_target(name), shard // n, shards // n)
    return Lane(name, plan.for_target(name), shard, shards)


def local_worker_count(plan: Plan, workers: int) -> int:
    """A local run's worker processes for ``workers`` (the plan's, or one per core): an A/B run
    with each target getting the whole schedule gives each target an equal part of them."""
    n = len(plan.targets)
    if n and plan.target_load == "each":
        return worker_count(plan, max(1, workers // n))
    return worker_count(plan, workers)
