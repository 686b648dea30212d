"""What the Temporal engine's workflows and activities exchange, and the names they use.

Payloads are plain dataclasses of JSON values (Temporal's default converter); steps,
component records and outcomes travel in the JSON forms the plan, state and event
schemas already define. Nothing here imports temporalio: the workflow sandbox passes
this module through, and the CLI reads the names without loading the SDK.

Task queues: the workflows run on `hwfw.control`, polled by every `hwfw worker`; the
steps of a host run on its site's queue, `hwfw-SITE` (`hwfw` for hosts without a
site); the one writer of the workspace state (`hwfw worker --state-writer`) polls
`hwfw.state`. Site names are lower-case letters, digits and dashes, so no site queue
can be mistaken for the other two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

CONTROL_QUEUE = "hwfw.control"
STATE_QUEUE = "hwfw.state"
DEFAULT_QUEUE = "hwfw"

ROLLOUT_WORKFLOW = "HwfwRollout"
HOST_WORKFLOW = "HwfwHost"

# Temporal's own limits (docs.temporal.io, "Workflow Execution limits"): pending child
# workflows per execution, and the event count of one history. The rollout stays well
# inside them: children in flight are capped, and it continues as new long before the
# history limit.
PENDING_CHILDREN_LIMIT = 2000
HISTORY_EVENTS_LIMIT = 51200
CHILDREN_IN_FLIGHT = 1000        # default cap of hosts running at once in one rollout
CONTINUE_AS_NEW_EVENTS = 10000   # continue as new beyond this many history events
# ... or this many bytes of history: a worker that lost the rollout from its cache replays
# the whole history in one workflow task, and hosts' steps and records make it heavy (a
# replay of 2.7 MB took longer than Temporal's 10 s workflow task timeout on two busy cores)
CONTINUE_AS_NEW_BYTES = 1_000_000
HOSTS_PER_LOAD = 250             # hosts read from the run's host file per activity
EVENTS_KEPT = 2000               # rollout events kept for followers
EVENTS_CARRIED = 100             # ... of which a run continuing as new hands on (its input is in the history)
# Host outcomes a rollout's result lists in full; beyond, converged hosts are counted only
# (every run carries the outcomes to its continuation, and replays them from its input)
SUMMARY_HOSTS = 1000
# Shortest heartbeat timeout: an event loop busy for seconds (two loaded cores) must not
# pass for a dead worker (2 s did: spurious retries, each settling its host first)
HEARTBEAT_FLOOR = 10.0
# An attempt of a state-writer activity (reads of the host file, a state write: well
# under a second at thousands of hosts) is given this long. An attempt whose task the
# server handed out but no worker received (a poll answered after the worker gave up on
# it, on a loaded machine) is retried only once this passes: no heartbeat tells.
STATE_ATTEMPT_SECONDS = 60.0


# The state's sections keyed by host (besides component records): BIOS settings records,
# post-configuration validations, watchdog (hwfw.apply.settings_run; schemas/state.schema.json)
HOST_EXTRA = ("bios_settings", "validations", "watchdog")


def site_queue(site: str | None) -> str:
    """The task queue of a site's steps."""
    return f"hwfw-{site}" if site else DEFAULT_QUEUE


def rollout_workflow_id(run_id: str) -> str:
    return f"hwfw-run-{run_id}"


def host_workflow_id(run_id: str, host: str) -> str:
    return f"hwfw-run-{run_id}/{host}"


def run_id_of(workflow_id: str) -> str | None:
    prefix = "hwfw-run-"
    return workflow_id[len(prefix):] if workflow_id.startswith(prefix) and "/" not in workflow_id else None


@dataclass
class Knobs:
    """The rollout rules (hwfw.apply.scheduler.Rollout), the deadline as epoch seconds."""

    parallelism: int
    max_unavailable: int | None
    canary: int
    failure_budget: int | None
    deadline: float | None
    time_scale: float


@dataclass
class StepTiming:
    """Activity timeouts and retries, mapped from settings.timing and settings.retries
    (see `step_timing`)."""

    heartbeat: float            # seconds without a heartbeat before an attempt counts as lost
    step: float                 # one attempt of one step, at most
    host: float                 # begin / finish of a host (pre-flight, rollback, hooks), at most
    retry_first: float          # first retry after this many seconds
    retry_most: float           # never wait longer than this between attempts
    attempts: int               # attempts per activity

    @property
    def heartbeat_every(self) -> float:
        return max(0.2, self.heartbeat / 4)


def step_timing(settings: Any) -> StepTiming:
    """Temporal's timeouts from the workspace's own: an attempt may take the longest
    component deadline plus a BMC reboot and POST, twice over; a worker that dies is
    noticed after ten poll intervals without a heartbeat (10 s to 1 min); retries back
    off from one poll interval to the BMC-ready timeout, `retries + 1` attempts in all."""
    t = settings.timing
    longest = max([*t.component_deadlines.values(), t.deadline_for("")])
    step = 2 * (longest + t.bmc_ready_timeout + t.post_timeout)
    hooks = 2 * settings.hooks.timeout if (settings.hooks.pre_host or settings.hooks.post_host) else 0.0
    return StepTiming(heartbeat=min(60.0, max(HEARTBEAT_FLOOR, 10 * t.poll_interval)), step=step, host=2 * step + hooks,
                      retry_first=max(0.05, t.poll_interval), retry_most=max(t.poll_interval, t.bmc_ready_timeout),
                      attempts=settings.retries + 1)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


@dataclass
class RolloutInput:
    """The rollout workflow's input; `carry` is what a run hands to its continuation."""

    run_id: str
    lineage: str                 # the state the plan was made against (checked by the state writer)
    serial: int
    hosts: int                   # hosts in the run's host file
    knobs: Knobs
    on_failure: str
    allow_pending: bool
    sync: bool
    timing: StepTiming
    steps: int = 0
    names: list[str] = field(default_factory=list)   # the hosts, for the run-started event (up to SUMMARY_HOSTS)
    children: int = CHILDREN_IN_FLIGHT
    history: int = CONTINUE_AS_NEW_EVENTS
    history_bytes: int = CONTINUE_AS_NEW_BYTES
    per_load: int = HOSTS_PER_LOAD
    carry: dict[str, Any] | None = None


@dataclass
class HostSpec:
    """One host of the run's host file: what its child workflow needs."""

    host: str
    site: str | None
    vendor: str | None
    model: str | None
    steps: list[dict[str, Any]]
    preset: dict[str, Any] | None = None     # an outcome decided before the run (refused, skipped)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None       # the host's HostPlan (its changes and BIOS settings; see host_plan)
    extra: dict[str, Any] = field(default_factory=dict)   # its entries of the state's host sections (HOST_EXTRA)


@dataclass
class HostBrief:
    """What the rollout knows of a host of the run's host file: what its rules read, not
    the plan (the host workflow loads its own HostSpec: the rollout's history, replayed
    whenever a worker lost it, stays small whatever the plan)."""

    host: str
    index: int                   # its line in the run's host file
    steps: int = 0
    estimate: float = 0.0        # HostShape.estimate_seconds
    downtime: float = 0.0        # HostShape.downtime_seconds
    preset: dict[str, Any] | None = None


@dataclass
class LoadHost:
    run_id: str
    index: int


@dataclass
class HostInput:
    """The host workflow's input (its plan it loads itself: hwfw.load_host)."""

    run_id: str
    rollout: str                 # the rollout's workflow id (signals go there)
    host: str
    index: int                   # its line in the run's host file
    on_failure: str
    allow_pending: bool
    sync: bool
    timing: StepTiming
    deadline: float | None
    time_scale: float
    slots_limited: bool          # max-unavailable is set: ask the rollout for a slot


@dataclass
class HostCall:
    """What every site activity of a host gets: the host's plan and what its run knows."""

    run_id: str
    host: str
    vendor: str | None
    model: str | None
    steps: list[dict[str, Any]]
    records: dict[str, dict[str, Any]]
    checkpoint: dict[str, Any] | None
    on_failure: str
    allow_pending: bool
    sync: bool
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    resets: dict[str, int] = field(default_factory=dict)
    failure: str | None = None
    halt: list[str] | None = None
    holds_slot: bool = False
    power_state: str | None = None
    step: str | None = None       # host_step: the step to run
    outcome: dict[str, Any] | None = None   # host_finish: the outcome decided before the walk, if any
    hard: bool = False            # the run was stopped hard: no rollback, no hooks
    resolved: list[str] = field(default_factory=list)   # intents earlier pieces of this host account for
    elapsed: float = 0.0          # seconds since the host started (its outcome's duration)
    plan: dict[str, Any] | None = None      # HostSpec.plan
    extra: dict[str, Any] = field(default_factory=dict)   # the host's state sections as its pieces left them


@dataclass
class HostReply:
    """What a site activity changed: records and checkpoint (the keys it wrote), audit
    entries for the state writer, events, resets sent, and its verdict."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    resets: dict[str, int] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    refusal: str | None = None
    power_state: str | None = None
    outcome: dict[str, Any] | None = None    # StepOutcome (host_step) or HostOutcome (begin, finish)
    failure: str | None = None
    settled: list[str] = field(default_factory=list)   # verdicts of intents a retry settled first
    resolutions: list[dict[str, Any]] = field(default_factory=list)   # for the state writer, after the records
    extra: dict[str, Any] = field(default_factory=dict)   # host sections the piece wrote (section -> value)


@dataclass
class BeginRun:
    run_id: str
    lineage: str
    serial: int
    started: str


@dataclass
class LoadHosts:
    run_id: str
    offset: int
    limit: int


@dataclass
class RecordHost:
    """What one host's run leaves for the state: its outcome, the records and checkpoint
    its pieces wrote, their audit entries and the intents they resolved (for a host the
    rollout did not start: only the outcome)."""

    host: str
    outcome: dict[str, Any]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)   # host sections its pieces wrote (section -> value)


@dataclass
class RecordHosts:
    """Hosts that ended, written to the state together (one write for the batch)."""

    run_id: str
    hosts: list[RecordHost]


@dataclass
class FinishRun:
    run_id: str
    finished: str
    exit_code: int
    interrupted: bool


@dataclass
class RolloutResult:
    """The end of a rollout: counts of every outcome, the exit code, and the host outcomes
    (all of them up to SUMMARY_HOSTS hosts, else those that did not converge)."""

    run_id: str
    counts: dict[str, int]
    exit_code: int
    interrupted: bool
    aborted: bool
    seconds: float
    hosts: dict[str, dict[str, Any]]
    complete_hosts: bool         # `hosts` lists every host
    error: str = ""              # the run could not start (stale plan, lock held, ...)
    peak_in_flight: int = 0      # most hosts running at once
    runs: int = 1                # workflow runs of the rollout (continue-as-new adds one each time)
