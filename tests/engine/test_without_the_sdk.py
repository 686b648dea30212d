"""Without the `temporal` extra: the Temporal engine says what to install, and nothing
else needs the SDK (the local engine never imports it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow

LAB = str(REPO_ROOT / "examples" / "lab")


def _hwfw_without_temporalio(*args: str) -> subprocess.CompletedProcess[str]:
    # a None entry in sys.modules makes `import temporalio` raise ImportError, as if not installed
    code = ("import sys; sys.modules['temporalio'] = None; sys.argv = ['hwfw', *sys.argv[1:]]; "
            "from hwfw.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_a_worker_without_the_sdk_says_which_extra_to_install() -> None:
    r = _hwfw_without_temporalio("worker", LAB)
    assert r.returncode == 1
    assert "needs the Temporal Python SDK" in r.stderr and "pip install 'hwfw[temporal]'" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_local_commands_do_not_need_the_sdk() -> None:
    r = _hwfw_without_temporalio("validate", LAB)
    assert r.returncode == 0, r.stderr
