"""Firmware images: the content-addressed cache, fetching, integrity policy, catalogs.

Module map:

* `cache`       — the on-disk cache: objects by sha256, locks, partials, quarantine
* `sources`     — an entry's `source` classified (https / http+allow_http / file)
* `fetch`       — stream one image into the cache: hash, verify, resume, retry
* `sync`        — `hwfw repo sync`: many images, bounded concurrency, one report
* `events`      — progress events and the hooks that render them (no rich here)
* `store`       — `ImageStore`, the API `apply` uses; byte-range helpers
* `policy`      — allow-list and signature requirements (`policy_problems`)
* `signature`   — detached OpenPGP signatures (`verify_signature`, via pysequoia)
* `maintenance` — `repo verify`, `repo gc`, storing a local file
* `writer`      — append entries to the repository YAML, keeping comments (ruamel)
* `add`         — `repo add` and `repo import` on top of the writer
* `catalogs`    — vendor catalog readers, one module per format (`dell`)
"""

from __future__ import annotations

from hwfw.repository.cache import Cache, hash_file, resolve_cache_dir
from hwfw.repository.policy import PolicyViolation, policy_problems
from hwfw.repository.signature import verify_signature
from hwfw.repository.store import ImageStore, iter_range, parse_range
from hwfw.repository.sync import SyncReport, referenced_entries, sync_entries

__all__ = ["Cache", "ImageStore", "PolicyViolation", "SyncReport", "hash_file", "iter_range", "parse_range",
           "policy_problems", "referenced_entries", "resolve_cache_dir", "sync_entries", "verify_signature"]
