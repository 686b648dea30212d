"""The `hwfw` program: the command line plus the commands of the other front ends.

The CLI (hwfw.cli) and the HTTP server (hwfw.server) are both front ends and never
import each other; this entry point puts them together: `hwfw serve` is the server's
own command, added to the CLI's group here.
"""

from __future__ import annotations

import signal


def run() -> None:
    from hwfw.cli import cli, main
    from hwfw.server.command import serve

    cli.add_command(serve)
    try:
        main()
    finally:
        # The command is over and its exit status decided. Python gives SIGINT and SIGTERM
        # back their default action while the interpreter shuts down, so a signal now
        # would end the process by that signal instead of that status: keep them blocked.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    run()
