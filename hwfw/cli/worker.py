"""`hwfw worker [DIR] [--site NAME]`: serve a site's steps of Temporal rollouts.

A thin front end over hwfw.api.serve_worker: it prints what it serves once every queue
is polled (the line `worker ready: ...` on stderr), then runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

from pathlib import Path

import click

from hwfw.api import TemporalTarget, WorkerInfo, serve_worker
from hwfw.cli import cli
from hwfw.cli.common import (
    app_context,
    examples,
    insecure_options,
    run,
    stderr_console,
    temporal_options,
    warn_insecure,
    workspace_argument,
)


@examples("hwfw worker examples/lab --state-writer",
          "hwfw worker -C /srv/fleet --site dc1 --temporal-address temporal.example:7233",
          "hwfw worker --site dc2 --namespace fleet-prod")
@cli.command()
@workspace_argument
@click.option("--site", metavar="NAME", default=None,
              help="Serve the hosts whose inventory entry says `site: NAME` (queue hwfw-NAME); without it, the hosts "
                   "without a site (queue hwfw).")
@click.option("--state-writer", is_flag=True,
              help="Also write the workspace state for the rollouts (exactly one worker per workspace, on the machine "
                   "where hwfw apply runs: it holds the state and the runs' host files).")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, metavar="N",
              help="Steps this worker runs at once (default: 2,000, two per host of the most a rollout runs at "
                   "once; at least twice settings.parallelism).")
@temporal_options
@insecure_options
def worker(site: str | None, state_writer: bool, concurrency: int | None, temporal_address: str | None,
           namespace: str | None, insecure: bool, ca_bundle: Path | None) -> None:
    """Run the steps of Temporal rollouts for one site, until interrupted.

    The worker needs the workspace and the credentials of its site's hosts (nothing
    else); it only connects out, to the Temporal service and the BMCs. Every worker
    also runs the workflows. Stop it with Ctrl-C or SIGTERM: steps it was running are
    retried by another attempt, which first settles what was left on the BMC.
    """
    err = stderr_console()
    warn_insecure(insecure)

    def ready(info: WorkerInfo) -> None:
        where = f"site {info.site}" if info.site else "hosts without a site"
        err.print(f"worker ready: {where} ({len(info.hosts)} host(s)), queues {', '.join(info.queues)}, "
                  f"Temporal {info.address} namespace {info.namespace}", highlight=False, soft_wrap=True)

    run(lambda cancel: serve_worker(app_context().workspace_dir, site=site, state_writer=state_writer,
                                    temporal=TemporalTarget(temporal_address, namespace), insecure=insecure,
                                    ca_bundle=ca_bundle, concurrency=concurrency, cancel=cancel, on_ready=ready))
