"""Which images a workspace is willing to flash, independent of whether they are cached.

Rules (each problem is one sentence naming the image):

* `settings.allowed_sha256`, when set, is an approved-firmware allow-list: an image
  whose sha256 is not on it is refused by `check`, `plan` and `apply`;
* `settings.policies.allow_unsigned: false` refuses images without a `signature`;
* an image with a `signature` needs at least one trusted public key;
* an `http://` source needs `allow_http: true` (the loader checks this too).

`policy_problems` never reads the image; `ImageStore.open_verified` runs it together
with the sha256 and signature checks right before an image is used.
"""

from __future__ import annotations

from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import IntegrityError
from hwfw.repository.signature import signing_keys


class PolicyViolation(IntegrityError):
    """An image is refused by the workspace's integrity policy (not by its bytes)."""

    def __init__(self, entry_id: str, problems: list[str]) -> None:
        self.entry_id = entry_id
        self.problems = problems
        super().__init__(f"image {entry_id!r} refused by policy: " + "; ".join(problems),
                         hint="approve the image (settings.allowed_sha256, signature) or pick another")


def policy_problems(entry: RepositoryEntry, workspace: Workspace) -> list[str]:
    """Every reason the workspace's policy refuses `entry`; empty when it is acceptable."""
    settings = workspace.settings
    problems: list[str] = []
    allowed = settings.allowed_sha256
    if allowed is not None and entry.sha256 not in allowed:
        problems.append(f"image {entry.id!r} (sha256 {entry.sha256}) is not on the approved list "
                        f"settings.allowed_sha256")
    if not entry.signature and not settings.policies.allow_unsigned:
        problems.append(f"image {entry.id!r} has no signature and settings.policies.allow_unsigned is false")
    if entry.signature and not signing_keys(entry, workspace):
        problems.append(f"image {entry.id!r} has a signature but no public key is configured "
                        f"(public_key on the entry or settings.signing_keys)")
    if entry.source.strip().lower().startswith("http://") and not entry.allow_http:
        problems.append(f"image {entry.id!r} has a plain http:// source without allow_http: true")
    return problems


def check_policy(entry: RepositoryEntry, workspace: Workspace) -> None:
    """Raise PolicyViolation listing every problem, if any."""
    problems = policy_problems(entry, workspace)
    if problems:
        raise PolicyViolation(entry.id, problems)
