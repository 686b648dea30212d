"""The `slow` marker, checked: a test that starts a subprocess or a server must carry it.

pyproject.toml defines `slow` as "end-to-end tests that start subprocesses or servers",
so `pytest -m "not slow"` is the in-process unit suite. Rather than trusting every
author to remember the marker, this plugin (loaded by tests/conftest.py) watches what
each test does while its fixtures are set up and while it runs:

- a process started: `subprocess.Popen` (which `subprocess.run`, `check_output` and
  `asyncio.create_subprocess_exec` use) or `multiprocessing.Process.start`;
- a server started: a TCP socket put into listening state (uvicorn, asyncio servers,
  the simulator, the image server) or a UDP socket bound to receive (the IPMI
  simulator, IPMI clients' reply sockets).

A test without the marker that does any of that fails, naming what it started. A
fixture shared between tests (module scope) counts for the test that sets it up first,
so tests sharing such a fixture carry the marker alike (a `-m "not slow"` run would
otherwise start it from an unmarked test).
"""

from __future__ import annotations

import multiprocessing.process
import socket
import subprocess
from collections.abc import Generator
from typing import Any

import pytest

_started: list[str] = []
_watching = False


def _note(what: str) -> None:
    if _watching and len(_started) < 5:
        _started.append(what)


_popen_init = subprocess.Popen.__init__
_process_start = multiprocessing.process.BaseProcess.start
_listen = socket.socket.listen
_bind = socket.socket.bind


def _watched_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    shown = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
    _note(f"a subprocess ({' '.join(shown.split())[:100]})")
    _popen_init(self, args, *rest, **kwargs)


def _watched_process_start(self: multiprocessing.process.BaseProcess) -> None:
    _note(f"a process ({self.name})")
    _process_start(self)


def _watched_listen(self: socket.socket, *args: Any) -> None:
    _note(f"a TCP server (listening on {self.getsockname()})")
    _listen(self, *args)


def _watched_bind(self: socket.socket, address: Any) -> None:
    if self.type == socket.SOCK_DGRAM:
        _note(f"a UDP socket (bound to {address})")
    _bind(self, address)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _watched_popen_init  # type: ignore[method-assign]
    multiprocessing.process.BaseProcess.start = _watched_process_start  # type: ignore[method-assign]
    socket.socket.listen = _watched_listen  # type: ignore[method-assign]
    socket.socket.bind = _watched_bind  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]
    multiprocessing.process.BaseProcess.start = _process_start  # type: ignore[method-assign]
    socket.socket.listen = _listen  # type: ignore[method-assign]
    socket.socket.bind = _bind  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _watching
    _started.clear()
    _watching = item.get_closest_marker("slow") is None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    global _watching
    try:
        yield
    finally:
        _watching = False
    if _started:
        pytest.fail(f"{item.nodeid} starts {'; '.join(_started)} but is not marked `slow`: add "
                    "@pytest.mark.slow (or `pytestmark = pytest.mark.slow` for the module)", pytrace=False)
