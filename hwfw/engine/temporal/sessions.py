"""The BMC sessions of a `hwfw worker`, journalled as a local apply journals its own.

A worker keeps a Redfish session per host in flight across the pieces it runs (site.py)
and can be killed at any instant, as an apply can. So its sessions are journalled the
same way (hwfw.apply.sessions.RunSessions: each session by URI, each login before its
POST with the nonce its `Context` carries), in a file of its own:
`.hwfw/workers/SITE/sessions.N.jsonl` (`_` for the hosts without a site). The worker
holds an exclusive `flock` on that file for its whole life; the kernel drops the lock
when the process ends, even by SIGKILL. A journal whose lock can be taken is therefore
one whose worker is gone. (`flock`, not the POSIX lock of the workspace lock: a POSIX
lock is the process's, and would be dropped when the journal's appends close their
descriptor.)

When a worker starts, it takes the first slot file of its site it can lock (slot 0,
unless other workers of the same site share this checkout) and, before it polls for
work, logs out what dead workers of its site left: the open records of every slot file
of its site it can lock, its own included, by the local apply's rules
(hwfw.apply.sessions.logout_left: a session by its recorded URI, a pending login's by
its Context nonce; nothing it cannot prove its own, and the record says why).

Never another client's live session:
* a live worker of the same site holds its slot's lock: its file is not read for logouts;
* a worker of another site journals in its own site's directory; a worker looks only in its own;
* a local apply journals in `.hwfw/sessions.jsonl` (and logs out from it alone), which
  no worker logs out from.
Records of hosts this worker does not serve (the inventory moved them to another site)
stay open, as do those of a BMC that does not answer: the next start tries again.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from hwfw.apply.ledger import ensure_runtime_dir
from hwfw.apply.sessions import LeftoverReport, RunSessions, logout_left
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.inventory.collect import ResolvedHost
from hwfw.logs import get_logger
from hwfw.state.journal import IntentLog

__all__ = ["NO_SITE", "WorkerSessions", "journal_dir"]

log = get_logger("engine.temporal.sessions")

NO_SITE = "_"   # not a valid site name (sites are lower-case letters, digits and '-')


def journal_dir(settings: Settings, site: str | None) -> Path:
    """Where the workers of `site` on this checkout journal their sessions."""
    return settings.runtime_dir / "workers" / (site or NO_SITE)


def _lock(path: Path) -> int | None:
    """An open descriptor holding `path`'s exclusive flock, or None if someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class _Logged:
    """A worker reports the sessions it logged out in its log (no run is there to tell)."""

    def warning(self, message: str, host: str | None = None) -> None:
        log.warning("%s: %s", host, message)


class WorkerSessions:
    """One worker's session journal (see the module docstring): `claim()` takes a slot and
    returns the journal to install; `logout_dead(hosts)` logs out what dead workers of the
    site left; `release()` drops the slot (at the worker's end)."""

    def __init__(self, settings: Settings, site: str | None, clock: Clock, *, owner: str | None = None) -> None:
        self.settings, self.site, self.clock = settings, site, clock
        self.owner = owner or f"{site or NO_SITE}/{os.getpid()}-{uuid.uuid4().hex[:8]}"   # site/pid-random
        self.path: Path | None = None
        self.journal: RunSessions | None = None
        self._fd: int | None = None

    def claim(self) -> RunSessions:
        ensure_runtime_dir(self.settings)
        folder = journal_dir(self.settings, self.site)
        folder.mkdir(parents=True, exist_ok=True)
        for n in itertools.count():
            path = folder / f"sessions.{n}.jsonl"
            fd = _lock(path)
            if fd is not None:
                break
        self.path, self._fd = path, fd
        self.journal = RunSessions(log=IntentLog(path, durable=False), owner=self.owner)
        return self.journal

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def logout_dead(self, hosts: Mapping[str, ResolvedHost], *, insecure: bool) -> LeftoverReport:
        """Log out, on `hosts`, the sessions dead workers of this site left open."""
        assert self.path is not None and self.journal is not None, "claim() first"
        report = LeftoverReport()
        for path in sorted(self.path.parent.glob("sessions.*.jsonl")):
            fd = None if path == self.path else _lock(path)
            if fd is None and path != self.path:
                continue  # a live worker's journal
            try:
                journal = IntentLog(path, durable=False)
                self.journal.learn(journal.records())
                self._say_what_stays(path, journal, hosts)
                done = await logout_left(journal, hosts, owner=self.owner, settings=self.settings, clock=self.clock,
                                         insecure=insecure, events=_Logged(), left_by="worker")
            finally:
                if fd is not None:
                    os.close(fd)
            for host, outcomes in done.outcomes.items():
                report.outcomes.setdefault(host, []).extend(outcomes)
        return report

    def _say_what_stays(self, path: Path, journal: IntentLog, hosts: Mapping[str, ResolvedHost]) -> None:
        elsewhere = sorted({str(i.get("host")) for i in journal.open_intents()
                            if i.get("host") not in hosts and i.get("run_id") != self.owner})
        if elsewhere:
            log.warning("%s: sessions a dead worker left on %s stay open (their BMCs expire them): this worker "
                        "does not serve those hosts (their site changed?)", path, ", ".join(elsewhere[:5]))
