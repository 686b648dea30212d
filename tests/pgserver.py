"""A throwaway PostgreSQL server for the tests of the PostgreSQL state backend.

Debian's `postgresql` package (scripts/install-system-packages) puts the server under
/usr/lib/postgresql/<major>/bin. `initdb` refuses to run as root, and CI runs as root:
then the data directory (in a temporary directory) is given to the `postgres` user
and initdb and the server run as that user (the process is started with that uid, no
wrapper in between, so the child's pid is the server's). The server listens on a free
loopback port (and a Unix socket in the same directory), runs with fsync off, and is
stopped by its own pid.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port


def server_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                   key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
    if not found:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql/*/bin: run scripts/install-system-packages")
    return found[-1].parent


@dataclass
class PgServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)   # "fast" shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _as_postgres() -> dict[str, object]:
    """Popen arguments that run the child as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": pw.pw_dir, "USER": "postgres", "LOGNAME": "postgres"}}


def start_server() -> PgServer:
    pgbin = server_bin()
    root = Path(tempfile.mkdtemp(prefix="hwfw-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data = root / "data"
    subprocess.run([str(pgbin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
                    "-E", "UTF8"], check=True, capture_output=True, cwd=root, **_as_postgres())  # type: ignore[call-overload]
    last = ""
    for _ in range(5):   # a free port can be taken by someone else before the server binds it
        port = free_port()
        log = open(root / "log", "ab")
        process = subprocess.Popen(  # type: ignore[call-overload]
            [str(pgbin / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, cwd=root, **_as_postgres())
        log.close()
        server = PgServer(root, port, process)
        if _wait_ready(server):
            return server
        last = (root / "log").read_text(errors="replace")[-2000:]
        if process.poll() is None:
            process.kill()
            process.wait()
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start:\n{last}")


def _wait_ready(server: PgServer, timeout: float = 60) -> bool:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            psycopg.connect(server.dsn, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)   # polling for the server to accept connections
    return False
