"""The `hwfw` program keeps its exit status when SIGINT or SIGTERM arrive while the
interpreter shuts down (the command is over then; Python has restored the signals'
default actions, which would end the process by the signal)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

# A signal sent from an exit handler: the moment Python is shutting down.
PROGRAM = """
import atexit, os, signal, sys
import hwfw.cli
hwfw.cli.main = lambda: sys.exit(3)
atexit.register(lambda: os.kill(os.getpid(), signal.{sig}))
from hwfw.__main__ import run
run()
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_during_shutdown_leaves_the_exit_status(sig: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM.format(sig=sig)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, (done.returncode, done.stderr)


# A command that loaded Temporal's native runtime: the process ends without finalizing
# the interpreter (its threads could abort it then), with the status and what was
# printed, buffered, before.
TEMPORAL_PROGRAM = """
import atexit, sys
import temporalio.bridge.temporal_sdk_bridge
import hwfw.cli
def command():
    print("the command's output", end="")
    sys.exit(3)
hwfw.cli.main = command
atexit.register(lambda: print(" and the interpreter finalized"))
from hwfw.__main__ import run
run()
"""


def test_after_a_temporal_command_the_process_ends_with_its_status_and_output_unfinalized() -> None:
    done = subprocess.run([sys.executable, "-c", TEMPORAL_PROGRAM], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (3, "the command's output"), done.stderr
