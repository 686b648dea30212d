"""tests/slow_marker.py fails a test that starts a subprocess or server without `slow`."""

from __future__ import annotations

import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # runs pytest in a subprocess

SAMPLES = '''
import asyncio
import socket
import subprocess
import sys

import pytest


def test_runs_a_process():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_listens():
    async def serve():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        server.close()
        await server.wait_closed()
    asyncio.run(serve())


def test_binds_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))


@pytest.mark.slow
def test_marked_runs_a_process():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_in_process_only():
    with socket.socket() as s:  # a client socket bound for its port only: no server
        s.bind(("127.0.0.1", 0))
'''


def test_unmarked_tests_that_start_processes_or_servers_fail(pytester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_samples=SAMPLES)
    pytester.makeini("[pytest]\nmarkers =\n    slow: starts subprocesses or servers\n")
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    result = pytester.runpytest_subprocess("-p", "tests.slow_marker", "-rf")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines([
        "*test_runs_a_process starts a subprocess*is not marked `slow`*",
        "*test_listens starts a TCP server*is not marked `slow`*",
        "*test_binds_udp starts a UDP socket*is not marked `slow`*",
    ])
