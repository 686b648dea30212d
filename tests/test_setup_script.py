"""scripts/install-system-packages (run by README command 2) with fake dpkg-query, apt-get,
sudo and id on PATH: installs exactly what is missing, as root or through sudo -n, and
otherwise says which `sudo apt-get install` line to run and exits 1.

The real purge-and-reinstall run is done by hand on a scratch machine; these tests pin
the decisions. PATH holds only the fakes and the few real tools the script uses.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "install-system-packages"

FAKE_DPKG_QUERY = """#!/bin/sh
for pkg; do :; done  # the last argument is the package name
if grep -qx "$pkg" "$FAKE_INSTALLED"; then echo 'install ok installed'; exit 0; fi
echo "dpkg-query: no packages found matching $pkg" >&2
exit 1
"""
FAKE_APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
[ "$1" = update ] && exit 0
for arg; do
  case "$arg" in
    -*|install) ;;
    *) grep -qx "$arg" "$FAKE_UNAVAILABLE" 2>/dev/null || echo "$arg" >> "$FAKE_INSTALLED" ;;
  esac
done
"""
FAKE_SUDO = """#!/bin/sh
echo "sudo $*" >> "$FAKE_LOG"
[ "$FAKE_SUDO" = nopasswd ] || { echo 'sudo: a password is required' >&2; exit 1; }
[ "$1" = -n ] && shift
exec "$@"
"""
FAKE_ID = """#!/bin/sh
[ "$1" = -u ] && echo "$FAKE_UID"
"""


def listed_packages() -> list[str]:
    block = re.search(r"^PACKAGES=\($(.*?)^\)$", SCRIPT.read_text(), re.M | re.S)
    assert block, "PACKAGES=( ... ) not found in the script"
    return [line.split()[0] for line in block.group(1).splitlines() if line.strip()]


PACKAGES = listed_packages()


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    log: list[str]
    installed: list[str]


@pytest.fixture
def machine(tmp_path: Path):
    """Runs the script on a fake machine: `machine(installed=[...], uid=0, sudo=...)`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "grep", "env", "true"):
        real = shutil.which(tool)
        assert real, tool
        (bin_dir / tool).symlink_to(real)

    def run(*, installed: list[str], uid: int = 0, sudo: str | None = None, dpkg: bool = True,
            unavailable: tuple[str, ...] = ()) -> Run:
        fakes = {"apt-get": FAKE_APT_GET, "id": FAKE_ID}
        if dpkg:
            fakes["dpkg-query"] = FAKE_DPKG_QUERY
        if sudo is not None:
            fakes["sudo"] = FAKE_SUDO
        for name in ("apt-get", "id", "dpkg-query", "sudo"):
            (bin_dir / name).unlink(missing_ok=True)
        for name, text in fakes.items():
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        state = tmp_path / "installed"
        state.write_text("".join(f"{p}\n" for p in installed))
        (tmp_path / "unavailable").write_text("".join(f"{p}\n" for p in unavailable))
        log = tmp_path / "log"
        log.write_text("")
        env = {"PATH": str(bin_dir), "FAKE_INSTALLED": str(state), "FAKE_LOG": str(log),
               "FAKE_UNAVAILABLE": str(tmp_path / "unavailable"), "FAKE_UID": str(uid),
               "FAKE_SUDO": sudo or "", "HOME": str(tmp_path)}
        proc = subprocess.run(["/usr/bin/env", "bash", str(SCRIPT)], env=env, capture_output=True,
                              text=True, timeout=60)
        return Run(proc.returncode, proc.stdout, proc.stderr, log.read_text().splitlines(),
                   state.read_text().split())

    return run


def test_the_list_names_every_package_the_suite_needs() -> None:
    needed = {"openipmi", "libvirt-dev", "pkg-config", "chromium", "chromium-driver", "gcc", "python3-dev",
              "python3-venv"}
    assert needed <= set(PACKAGES)
    assert len(PACKAGES) == len(set(PACKAGES))


@pytest.mark.slow
def test_everything_installed_runs_no_apt_and_prints_nothing(machine) -> None:
    run = machine(installed=PACKAGES, uid=1000, sudo="nopasswd")
    assert (run.rc, run.stdout, run.stderr, run.log) == (0, "", "", [])


@pytest.mark.slow
def test_missing_as_root_installs_exactly_the_missing_ones(machine) -> None:
    missing = [PACKAGES[1], PACKAGES[-1]]
    run = machine(installed=[p for p in PACKAGES if p not in missing], uid=0)
    assert run.rc == 0, run.stderr
    assert run.stdout == f"Installing Debian packages: {' '.join(missing)}\n"
    assert run.log == ["apt-get update -qq",
                       f"apt-get install -y -qq --no-install-recommends {' '.join(missing)}"]
    assert sorted(run.installed) == sorted(PACKAGES)


@pytest.mark.slow
def test_missing_as_a_user_with_passwordless_sudo_goes_through_sudo(machine) -> None:
    run = machine(installed=PACKAGES[1:], uid=1000, sudo="nopasswd")
    assert run.rc == 0, run.stderr
    assert run.log == ["sudo -n true",
                       "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq",
                       "apt-get update -qq",
                       f"sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
                       f"{PACKAGES[0]}",
                       f"apt-get install -y -qq --no-install-recommends {PACKAGES[0]}"]


@pytest.mark.slow
@pytest.mark.parametrize("sudo", [None, "password"], ids=["no-sudo", "sudo-asks-a-password"])
def test_missing_without_root_says_what_to_run_and_fails(machine, sudo: str | None) -> None:
    missing = [PACKAGES[0], PACKAGES[3]]
    run = machine(installed=[p for p in PACKAGES if p not in missing], uid=1000, sudo=sudo)
    assert run.rc == 1
    assert f"  sudo apt-get install -y --no-install-recommends {' '.join(missing)}\n" in run.stderr
    assert "not installed: " + " ".join(missing) in run.stderr
    assert not any(line.startswith("apt-get") for line in run.log)
    assert run.stdout == ""


@pytest.mark.slow
def test_a_package_apt_cannot_install_is_an_error(machine) -> None:
    run = machine(installed=PACKAGES[1:], uid=0, unavailable=(PACKAGES[0],))
    assert run.rc == 1
    assert f"apt-get did not install: {PACKAGES[0]}" in run.stderr


@pytest.mark.slow
def test_without_dpkg_it_lists_the_packages_and_goes_on(machine) -> None:
    run = machine(installed=[], uid=1000, dpkg=False)
    assert run.rc == 0 and run.log == []
    assert "no dpkg-query" in run.stderr and " ".join(PACKAGES) in run.stderr


def test_ci_runs_exactly_readme_command_2() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"^## Two commands\n.*?```sh\n(.*?)```", readme, re.M | re.S)
    assert block
    commands = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2
    ci = [ln for ln in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.startswith("#") and ln not in ("set -euo pipefail", 'cd "$(dirname "$0")/.."')]
    assert ci == [commands[1]]
    assert os.access(REPO_ROOT / commands[1].split()[0], os.X_OK)


@pytest.mark.slow
@pytest.mark.parametrize("failing", [None, "ruff", "mypy", "pytest", "python"])
def test_the_test_script_runs_the_linters_and_fails_when_any_step_fails(tmp_path: Path, failing: str | None) -> None:
    """scripts/test runs ruff, mypy, pytest and the service validator (each even after a
    failure) and exits with the first failure's status. The tools are fakes that log."""
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "scripts" / "test", root / "scripts" / "test")
    (root / "scripts" / "install-system-packages").write_text("#!/bin/sh\nexit 0\n")
    fake_bin = root / ".venv" / "bin"
    fake_bin.mkdir(parents=True)
    (fake_bin / "activate").write_text(f'PATH="{fake_bin}:$PATH"\n')
    log = tmp_path / "log"
    for tool in ("python", "pip", "ruff", "mypy", "pytest"):
        rc = 3 if tool == failing else 0
        (fake_bin / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexit {rc}\n')
    for path in [*fake_bin.iterdir(), *(root / "scripts").iterdir()]:
        path.chmod(0o755)
    proc = subprocess.run([str(root / "scripts" / "test")], cwd=root, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert proc.returncode == (3 if failing else 0), proc.stderr
    ran = [line.strip() for line in log.read_text().splitlines()]
    assert ran == ["pip install -q -e .[test]", "ruff check", "mypy", "pytest",
                   "python scripts/sim_service_validator.py"]
