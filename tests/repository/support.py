"""Helpers of the repository tests: tiny workspaces and images, the CLI run in-process."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INVENTORY = """\
defaults:
  credentials: {username: admin, password_env: BMC_PASS}
hosts:
  - name: h1
    bmc: https://127.0.0.1:1
    vendor: dell
    model: PowerEdge R750
"""

REPO_HEADER = """\
# yaml-language-server: $schema=../schemas/repository.schema.json
# Firmware images of the test lab. Keep this comment!
images:
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible test bytes."""
    return random.Random(seed).randbytes(n)


def image(id: str, source: str, data: bytes | None = None, *, sha256: str | None = None, size: int | None = None,
          version: str = "1.0.0", component: str = "bios", referenced: bool = True, **extra: Any) -> dict[str, Any]:
    """An image spec for `make_workspace` (digest and size taken from `data` if given)."""
    spec: dict[str, Any] = {"id": id, "vendor": "dell", "component": component, "version": version,
                            "models": ["PowerEdge R750"], "source": source,
                            "sha256": sha256 or (sha(data) if data is not None else "0" * 64)}
    if size is not None or data is not None:
        spec["size"] = size if size is not None else len(data or b"")
    spec.update(extra)
    spec["_referenced"] = referenced
    return spec


def make_workspace(root: Path, images: list[dict[str, Any]], *, settings: dict[str, Any] | None = None) -> Path:
    """hwfw.yaml + inventory + one baseline naming every referenced image + repository."""
    root.mkdir(parents=True, exist_ok=True)
    hwfw: dict[str, Any] = {"format": 1, "files": {"inventory": "inventory.yaml", "baselines": "baselines.yaml",
                                                   "repository": "repository.yaml"}}
    if settings:
        hwfw["settings"] = settings
    (root / "hwfw.yaml").write_text(json.dumps(hwfw, indent=2) + "\n")
    (root / "inventory.yaml").write_text(INVENTORY)
    comps = {i["id"]: {"kind": i["component"], "version": i["version"], "image": i["id"]}
             for i in images if i["_referenced"]} or {"bios": {"version": "1.0.0"}}
    baselines = {"baselines": {"r750": {"select": {"vendor": "dell", "models": ["PowerEdge R750"]},
                                        "components": comps}}}
    (root / "baselines.yaml").write_text(json.dumps(baselines, indent=2) + "\n")
    lines = [REPO_HEADER]
    for i in images:
        entry = {k: v for k, v in i.items() if not k.startswith("_")}
        lines.append("  - " + json.dumps(entry) + "\n")
    if not images:
        lines = [REPO_HEADER.replace("images:\n", "images: []\n")]
    (root / "repository.yaml").write_text("".join(lines))
    return root


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliResult:
    """Run the hwfw CLI in this process (fast); `run_hwfw` runs it in a subprocess like a user."""
    from hwfw.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())
