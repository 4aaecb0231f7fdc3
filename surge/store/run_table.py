"""The runs table's key design: one DynamoDB table holds every cloud run's record, progress
counters and history. Pure; shared by the history, the workflow's run records and the stack
(``infra/storage.py`` creates the table from these names, IAM conditions are written from them).

- table: partition key ``pk`` = ``RUN#<run_id>``, sort key ``sk`` = ``RUN`` for the run record;
  a run's progress counters are items of their own partition keys under ``RUN#<run_id>#``.
- GSI ``by_plan``: ``plan_pk`` = ``PLAN#<plan name>``, ``plan_sk`` = started_at (ISO 8601 UTC, so
  it sorts by time): the history of one plan.
- GSI ``recent``: ``recent_pk`` = ``RUNS``, ``recent_sk`` = started_at: the newest runs of every plan.
"""

from __future__ import annotations

TABLE_PK = "pk"
TABLE_SK = "sk"
RUN_PK_PREFIX = "RUN#"
RUN_RECORD_SK = "RUN"
GSI_BY_PLAN = "by_plan"
GSI_BY_PLAN_PK = "plan_pk"
GSI_BY_PLAN_SK = "plan_sk"
PLAN_PK_PREFIX = "PLAN#"
GSI_RECENT = "recent"
GSI_RECENT_PK = "recent_pk"
GSI_RECENT_SK = "recent_sk"
RECENT_PARTITION = "RUNS"


def run_pk(run_id: str) -> str:
    return f"{RUN_PK_PREFIX}{run_id}"


def plan_pk(plan: str) -> str:
    return f"{PLAN_PK_PREFIX}{plan}"


def run_record_key(run_id: str) -> dict[str, dict[str, str]]:
    """The run record's key, as DynamoDB's API takes it."""
    return {TABLE_PK: {"S": run_pk(run_id)}, TABLE_SK: {"S": RUN_RECORD_SK}}


def index_attributes(plan: str, started_at: str) -> dict[str, str]:
    """What puts a run record in both indexes (sparse: only run records carry these), written by
    the workflow when a cloud run starts and by the history when a run is recorded."""
    return {
        GSI_BY_PLAN_PK: plan_pk(plan),
        GSI_BY_PLAN_SK: started_at,
        GSI_RECENT_PK: RECENT_PARTITION,
        GSI_RECENT_SK: started_at,
    }


PROGRESS_SK = "PROGRESS"
# Workers add their progress to one of a run's counter items, never to the run record: a thousand
# workers on one item (and its index entries) would pass DynamoDB's 1,000 writes per second per
# partition at every segment's end. Each counter has its own partition key (under RUN#<run>, which
# the IAM conditions allow) and is written by at most this many workers: ~10 writes per second.
WORKERS_PER_COUNTER = 50


def progress_pk(run_id: str, counter: int) -> str:
    return f"{run_pk(run_id)}#PROGRESS#{counter}"


def progress_counters(max_workers_at_once: int) -> int:
    """How many counter items a run of this many concurrent workers spreads its progress over."""
    return max(1, -(-max_workers_at_once // WORKERS_PER_COUNTER))
