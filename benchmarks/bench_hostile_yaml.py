"""Benchmark: CPU time `hwfw validate` spends rejecting hostile YAML files.

Each case replaces the inventory of a copy of examples/lab and measures the CPU time of
`check_workspace` in this process (the loader, schema validation and messages; not the
interpreter's start-up). Target: each case rejected, with a located error, in well under
1 s of CPU. Before the limits in hwfw/config/yamllimits.py, the billion-laughs file took
about 34 s of CPU (the duplicate-key walk expanded every alias) and the 60 KB file of
nested sequences crashed the process.

    python benchmarks/bench_hostile_yaml.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "examples" / "lab"
TARGET = 1.0


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CASES = {
    "billion laughs (9^9 nodes from 342 bytes)": billion_laughs(),
    "30,000 nested block sequences (60 KB)": "- " * 30_000 + "x\n",
    "900 nested flow sequences": "hosts: " + "[" * 900 + "]" * 900 + "\n",
    "4,400-digit integer": "hosts:\n  - name: a\n    bmc: sim://a\n    ipmi_port: " + "9" * 4400 + "\n",
    "100,000 aliases of one anchor": "d: &d {x: 1}\nhosts: [" + ", ".join(["*d"] * 100_000) + "]\n",
}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from hwfw.config import check_workspace

    work = Path(tempfile.mkdtemp(prefix="hwfw-hostile-"))
    rc = 0
    try:
        ws = work / "lab"
        shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw"))
        check_workspace(ws)  # warm: schema compilation is not what is measured
        for name, text in CASES.items():
            (ws / "inventory.yaml").write_text(text)
            start = time.process_time()
            _, problems = check_workspace(ws)
            cpu = time.process_time() - start
            errors = [p for p in problems if p.severity == "error"]
            first = errors[0].render().splitlines()[0] if errors else "no error!"
            ok = bool(errors) and cpu < TARGET
            rc |= 0 if ok else 1
            print(f"{name}: {cpu * 1000:.1f} ms CPU, {len(errors)} error(s): {first}")
        print(f"target: each rejected in < {TARGET:g} s of CPU: {'PASS' if rc == 0 else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
