"""The `hwfw` program: the command line plus the commands of the other front ends.

The CLI (hwfw.cli) and the HTTP server (hwfw.server) are both front ends and never
import each other; this entry point puts them together: `hwfw serve` is the server's
own command, added to the CLI's group here.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

# Temporal's SDK runs a native runtime with threads of its own that outlive the command;
# one calling into Python while the interpreter finalizes aborts the process (SIGABRT,
# "PyGILState_Release: thread state must be current"), seen once after `hwfw run list`.
_TEMPORAL_RUNTIME = "temporalio.bridge.temporal_sdk_bridge"


def run() -> None:
    from hwfw.cli import cli, main
    from hwfw.server.command import serve

    cli.add_command(serve)
    status: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        status = exc.code
    finally:
        # The command is over and its exit status decided. Python gives SIGINT and SIGTERM
        # back their default action while the interpreter shuts down, so a signal now
        # would end the process by that signal instead of that status: keep them blocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    if _TEMPORAL_RUNTIME in sys.modules:
        _exit_now(status)
    sys.exit(status)


def _exit_now(status: int | str | None) -> None:
    """End the process with `status` without finalizing the interpreter (the command's
    work, sessions and files included, is done; what is buffered is written first)."""
    if isinstance(status, str):
        print(status, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status or 0)


if __name__ == "__main__":
    run()
