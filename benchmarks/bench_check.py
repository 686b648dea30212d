"""Benchmark: `hwfw check` against `hwfw validate` on the 10,000-host workspace.

Target: check takes at most 1 s more than validate (both cold processes, as a user and
a CI job run them). Uses the workspace of bench_validate.py; runs the two commands
alternately so machine noise hits both alike, prints both medians and their difference,
then where check's extra time goes (in-process, per check).

    python benchmarks/bench_check.py [--hosts 10000] [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_validate import generate, timed

TARGET_EXTRA = 1.0


def phases(root: Path) -> list[tuple[str, float]]:
    """Seconds per phase of `run_check`, measured in this process (after imports)."""
    import hwfw.cli  # noqa: F401  (the CLI's imports, as `hwfw check` pays them)
    from hwfw.compliance import baselines, checks, gate, scan
    from hwfw.compliance.locate import Locator
    from hwfw.compliance.scenarios import scenarios
    from hwfw.config import check_workspace

    out = []
    start = time.perf_counter()
    ws, _ = check_workspace(root)
    out.append(("load + validate (what validate does)", time.perf_counter() - start))
    assert ws is not None, "the benchmark workspace must be valid"
    loc = Locator(ws)
    steps = [
        ("secrets in other YAML files", lambda: scan.scan_secrets(root, *gate._already_scanned(root))),
        ("scenarios", lambda: scenarios(ws)),
    ]
    for name, step in steps:
        start = time.perf_counter()
        step()
        out.append((name, time.perf_counter() - start))
    scens = scenarios(ws)
    for name, step in [("images", lambda: checks.images(ws, loc)),
                       ("compatibility (synthetic plan)", lambda: baselines.satisfiability(ws, loc, scens)),
                       ("stepping stones", lambda: baselines.stepping_stones(ws, loc, scens)),
                       ("sequences", lambda: checks.sequences(ws, loc)),
                       ("critical images", lambda: checks.critical_images(ws, loc))]:
        start = time.perf_counter()
        step()
        out.append((name, time.perf_counter() - start))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="generate the workspace here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="hwfw-bench-")) / "ws"
    generate(root, args.hosts)
    size = sum(p.stat().st_size for p in root.glob("*.yaml"))
    print(f"workspace: {args.hosts} hosts, {size / 2**20:.1f} MiB of YAML in {root}")
    hwfw = [sys.executable, "-m", "hwfw"]
    times: dict[str, list[float]] = {"validate": [], "check": []}
    for _ in range(args.runs):
        for command, runs in times.items():
            elapsed, result = timed(*hwfw, command, str(root))
            if result.returncode != 0:
                print(f"hwfw {command} failed (exit {result.returncode}):\n"
                      f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
                return 1
            runs.append(elapsed)
    medians = {c: statistics.median(t) for c, t in times.items()}
    for command, t in times.items():
        print(f"hwfw {command:8}: median {medians[command]:.2f} s over {len(t)} cold runs "
              f"(min {min(t):.2f} s, max {max(t):.2f} s)")
    # The fastest run of each is the least disturbed by other load on the machine; the
    # medians are printed too, so a noisy machine shows up as a gap between the two.
    extra = min(times["check"]) - min(times["validate"])
    paired = statistics.median(c - v for c, v in zip(times["check"], times["validate"], strict=True))
    ok = extra <= TARGET_EXTRA
    print(f"check - validate: {extra:+.2f} s (fastest runs; medians {medians['check'] - medians['validate']:+.2f} s, "
          f"median of paired runs {paired:+.2f} s); target <= {TARGET_EXTRA:.0f} s: {'PASS' if ok else 'FAIL'}")
    print("in-process breakdown of check:")
    for name, seconds in phases(root):
        print(f"  {name:40} {seconds * 1000:8.1f} ms")
    if not args.keep:
        shutil.rmtree(root.parent, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
