"""Pre- and post-host hook commands (`settings.hooks.pre_host` / `post_host`).

A hook is an argv (no shell) run once per host: the pre-hook before hwfw touches the
host (drain it, silence its monitoring), the post-hook after its last step (undrain).
It gets the environment of hwfw plus HWFW_HOST, HWFW_RUN_ID, HWFW_HOOK (pre_host or
post_host), HWFW_WORKSPACE and, for the post-hook, HWFW_HOST_OUTCOME. A non-zero exit
or a timeout is a failure: a failing pre-hook skips the host.

The timeout is real time on purpose: it bounds an external process, not a BMC wait,
so it does not follow the injected clock. The hook runs in its own process group and
the whole group is killed on timeout or when the run is interrupted.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from hwfw.logs import get_logger, redactor

log = get_logger("apply.hostcmd")

_OUTPUT_TAIL = 2000


@dataclass(frozen=True, slots=True)
class HookResult:
    ok: bool
    returncode: int | None
    output: str          # the last lines of stdout+stderr, redacted
    message: str

    @property
    def summary(self) -> str:
        return self.message + (f": {self.output.strip().splitlines()[-1]}" if self.output.strip() else "")


async def run_host_hook(argv: Sequence[str], *, which: str, host: str, run_id: str, timeout: float,
                        workspace: Path, extra_env: Mapping[str, str] | None = None) -> HookResult:
    """Run one hook command for one host and report how it ended (never raises for the
    command's own failure; CancelledError kills it and propagates)."""
    env = {**os.environ, "HWFW_HOST": host, "HWFW_RUN_ID": run_id, "HWFW_HOOK": which,
           "HWFW_WORKSPACE": str(workspace), **(extra_env or {})}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=workspace, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        return HookResult(False, None, "", f"{which} hook {argv[0]!r} could not start: {exc.strerror or exc}")
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        _kill_group(proc)
        await proc.wait()
        return HookResult(False, None, "", f"{which} hook {argv[0]!r} timed out after {timeout:g}s")
    except BaseException:
        _kill_group(proc)
        raise
    text = redactor(out.decode(errors="replace"))[-_OUTPUT_TAIL:]
    for line in text.splitlines():
        log.info("%s %s: %s", host, which, line)
    if proc.returncode != 0:
        return HookResult(False, proc.returncode, text, f"{which} hook {argv[0]!r} exited with {proc.returncode}")
    return HookResult(True, 0, text, f"{which} hook ok")


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
