"""Load a workspace: YAML -> schema validation -> typed objects -> semantic checks.

Every problem in every file is collected and reported at once, each at the file, line
and column of the node that is wrong.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Sequence

from hwfw import vendor_registry, versions
from hwfw.config import biosdecl, paths
from hwfw.config import model as m
from hwfw.config.excerpt import dotted, one_of
from hwfw.config.schema import validate
from hwfw.config.secrets import find_literal_secrets, literal_secret_in_url, may_hold_secret
from hwfw.config.vendorfields import vendor_problems
from hwfw.config.yamlio import YamlSource, YamlSyntaxError, load_yaml
from hwfw.errors import ConfigError, Problem, SourceLocation, WorkspaceNotFound
from hwfw.resources import default_config, schema_path

__all__ = ["FILE_KINDS", "NETWORK_SCHEMES", "BaselineIndex", "LoadContext", "WorkspaceCheck", "check_workspace",
           "display_path", "find_root", "load_workspace", "one_of"]

ROOT_FILE = "hwfw.yaml"
FILE_KINDS = ("inventory", "baselines", "repository", "compatibility", "sequences", "fleet")
DEFAULT_FILES = {"compatibility": "compatibility_matrix.yaml", "sequences": "update_sequences.yaml"}
# A host reached over the network needs a credentials reference. Addresses of any other
# scheme are resolved, and checked, by hwfw.connect (the only module that knows them).
NETWORK_SCHEMES = ("http://", "https://", "ipmi://")


@dataclass
class LoadContext:
    """Loading context: sources by kind and the problems found so far. Semantic checks
    (this module's and a caller's `WorkspaceCheck`s) report through `error`."""

    root: Path
    policy: paths.PathPolicy
    sources: dict[str, YamlSource] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def loc(self, kind: str, path: Sequence[str | int], key: bool = False) -> SourceLocation | None:
        source = self.sources.get(kind)
        return source.location(path, key=key) if source else None

    def error(self, kind: str, path: Sequence[str | int], message: str, *, code: str,
              expected: str | None = None, key: bool = False, severity: str = "error") -> None:
        self.problems.append(Problem(message, self.loc(kind, path, key), code=code,
                                     expected=expected, severity=severity))


def display_path(path: Path) -> str:
    """How a file is named in messages: relative to the current directory if inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def find_root(directory: Path) -> Path:
    root = directory / ROOT_FILE
    if not root.is_file():
        raise WorkspaceNotFound(
            f"no {ROOT_FILE} in {display_path(directory) or '.'}",
            hint="pass the workspace directory (hwfw validate DIR or -C DIR), "
                 "or create hwfw.yaml there (see examples/lab/hwfw.yaml)")
    return root


@dataclass(frozen=True, slots=True)
class WorkspaceCheck:
    """A semantic check a caller adds to loading (hwfw.connect checks simulated hosts).

    `needs`: the file kinds it reads; it is skipped when one of them is broken.
    """

    needs: frozenset[str]
    run: Callable[[LoadContext, m.Workspace], None]


def check_workspace(directory: Path, checks: Sequence[WorkspaceCheck] = ()) -> tuple[m.Workspace | None,
                                                                                    list[Problem]]:
    """Load and check a workspace; return it (None if it has errors) and all problems.

    `checks` run after the host checks, so problems stay in the order of the files."""
    directory = directory.resolve()
    ctx = LoadContext(root=directory, policy=paths.PathPolicy(directory))
    root_file = find_root(directory)
    if not root_file.resolve().is_relative_to(directory):
        return None, [Problem(f"{ROOT_FILE} leads outside the workspace through a symbolic link",
                              SourceLocation(display_path(root_file), 1, 1), code="path-outside-workspace",
                              expected=f"a {ROOT_FILE} that is a file of the workspace")]
    root_data = _load(ctx, "hwfw", root_file)
    if root_data is None:
        return None, ctx.problems
    if not isinstance(root_data, dict):  # reported by the schema; names no files
        root_data = {}
    ctx.policy = paths.PathPolicy(directory, _allowed_roots(ctx, root_data))
    files = _resolve_files(ctx, root_data)
    for kind, path in files.items():
        if kind == "fleet" and not schema_path("fleet").is_file():
            continue
        _load(ctx, kind, path)
    _scan_secrets(ctx)
    # Files that failed to parse or validate are left out of the semantic checks that
    # need them; every other check still runs, so one pass reports everything.
    workspace = _build(ctx, files, root_data if "hwfw" not in ctx.broken else {})
    _semantic_checks(ctx, workspace, checks)
    problems = _dedupe(ctx.problems)
    return (workspace if not any(p.severity == "error" for p in problems) else None), problems


def load_workspace(directory: Path, checks: Sequence[WorkspaceCheck] = ()) -> m.Workspace:
    """Load a workspace or raise ConfigError listing every problem."""
    workspace, problems = check_workspace(directory, checks)
    if workspace is None:
        raise ConfigError(problems, hint=f"fix the files above, then run: hwfw validate {display_path(directory)}")
    return workspace


def _load(ctx: LoadContext, kind: str, path: Path) -> Any:
    display = display_path(path)
    if not path.is_file():
        ctx.broken.add(kind)
        ctx.problems.append(Problem(f"file not found: {display}", SourceLocation(display, 1, 1),
                                    code="missing-file", expected="an existing file"))
        return None
    try:
        data, source = load_yaml(path, display)
    except YamlSyntaxError as exc:
        ctx.broken.add(kind)
        ctx.problems.extend(exc.problems)
        return None
    ctx.sources[kind] = source
    if data is None:
        data = {}
    ctx.data[kind] = data
    # Vendor names are plain strings to the schemas; the registry says which exist
    # (read at each load: a record added at run time, as a test does, is known at once).
    problems = validate(kind, data, source) + vendor_problems(kind, data, source, vendor_registry.VENDOR_NAMES)
    if problems:
        ctx.problems.extend(problems)
        # A literal secret is also an unknown key to the schema. It is reported (once,
        # as a secret) but does not stop the file's semantic checks: a password in the
        # file must not hide a typo elsewhere in it.
        secrets = _secret_keys(kind, data, source)
        if any(not (p.code == "unknown-key" and p.location in secrets) for p in problems):
            ctx.broken.add(kind)
    return data


def _secret_keys(kind: str, data: Any, source: YamlSource) -> set[SourceLocation]:
    """Where the literal secrets of a file are (their keys)."""
    if kind == "fleet" or not may_hold_secret(source.text):
        return set()
    return {source.location(list(path), key=True) for path, _ in find_literal_secrets(data)}


def _allowed_roots(ctx: LoadContext, root_data: Any) -> tuple[str, ...]:
    if "hwfw" in ctx.broken or not isinstance(root_data, dict):
        return ()
    return tuple((root_data.get("settings") or {}).get("allowed_roots", ()))


def _resolve_files(ctx: LoadContext, root_data: dict[str, Any]) -> dict[str, Path]:
    named = root_data.get("files") or {}
    files: dict[str, Path] = {}
    for kind in FILE_KINDS:
        rel = named.get(kind) if isinstance(named, dict) else None
        if isinstance(rel, str):
            leaves = ctx.policy.outside(rel)
            if leaves is not None:  # never opened: nothing of the target may reach a message
                ctx.broken.add(kind)
                ctx.error("hwfw", ["files", kind], f"files.{kind}: {leaves}", code="path-outside-workspace",
                          expected=paths.EXPECTED)
                continue
            path = (ctx.root / rel).resolve()
            if not path.is_file():
                ctx.error("hwfw", ["files", kind], f"files.{kind}: {rel!r} does not exist in the workspace",
                          code="missing-file", expected="a path relative to hwfw.yaml")
                continue
            files[kind] = path
        elif kind in DEFAULT_FILES:
            files[kind] = default_config(DEFAULT_FILES[kind])
    return files


def _scan_secrets(ctx: LoadContext) -> None:
    for kind, data in ctx.data.items():
        if kind == "fleet":
            continue  # simulator settings: simulated BMC passwords are not the user's secrets
        if not may_hold_secret(ctx.sources[kind].text):
            continue
        for path, key in find_literal_secrets(data):
            ctx.error(kind, list(path), f"literal secret in YAML: {key!r} holds a value",
                      code="literal-secret", key=True,
                      expected="a reference: password_env: VAR_NAME or password_file: PATH")


def _dedupe(problems: list[Problem]) -> list[Problem]:
    # A literal password is also an unknown key to the schema; report it once, as a secret.
    secret_locs = {p.location for p in problems if p.code == "literal-secret"}
    seen: set[tuple[Any, str]] = set()
    out = []
    for p in problems:
        if p.code == "unknown-key" and p.location in secret_locs:
            continue
        if (p.location, p.message) in seen:
            continue
        seen.add((p.location, p.message))
        out.append(p)
    return out


# ---------------------------------------------------------------- building objects

def _build(ctx: LoadContext, files: dict[str, Path], root_data: dict[str, Any]) -> m.Workspace:
    settings = _settings(ctx.root, root_data.get("settings") or {})
    _check_notifications(ctx, root_data.get("settings") or {})
    backend = (root_data.get("settings") or {}).get("backend")
    if isinstance(backend, dict):
        settings = replace(settings, backend=_backend(ctx, backend))

    def good(kind: str) -> dict[str, Any]:
        data = ctx.data.get(kind)
        return data if kind not in ctx.broken and isinstance(data, dict) else {}

    return m.Workspace(
        root=ctx.root,
        files=MappingProxyType({"hwfw": ctx.root / ROOT_FILE, **files}),
        settings=settings,
        hosts=_hosts(ctx.root, good("inventory")),
        baselines=_baselines(good("baselines")),
        matrix=_matrix(good("compatibility")),
        sequences=_sequences(good("sequences")),
        repository=_repository(good("repository")),
        fleet_path=files.get("fleet"),
    )


def _settings(root: Path, s: dict[str, Any]) -> m.Settings:
    timing_data = s.get("timing") or {}
    timing_kwargs: dict[str, Any] = {}
    for key, value in timing_data.items():
        if key == "component_deadlines":
            merged = dict(m.Timing().component_deadlines)
            merged.update({k: m.parse_duration(v) for k, v in value.items()})
            timing_kwargs[key] = MappingProxyType(merged)
        elif key == "stability_checks":
            timing_kwargs[key] = int(value)
        elif key == "time_scale":
            timing_kwargs[key] = float(value)
        else:
            timing_kwargs[key] = m.parse_duration(value)
    pol = s.get("policies") or {}
    hooks = s.get("hooks") or {}
    img = s.get("image_server") or {}
    sim = s.get("simulator") or {}
    srv = s.get("server") or {}

    def opt_path(value: str | None) -> Path | None:
        return (root / value) if value else None

    cache_dir = s.get("cache_dir")
    return m.Settings(
        state_path=root / s.get("state_path", ".hwfw/state.json"),
        runtime_dir=root / s.get("runtime_dir", ".hwfw"),
        cache_dir=Path(os.path.expanduser(cache_dir)) if cache_dir and os.path.isabs(os.path.expanduser(cache_dir))
        else opt_path(cache_dir),
        ca_bundle=opt_path(s.get("ca_bundle")),
        parallelism=s.get("parallelism", 10),
        requests_per_bmc=s.get("requests_per_bmc", 4),
        plan_concurrency=s.get("plan_concurrency"),
        retries=s.get("retries", 4),
        timing=m.Timing(**timing_kwargs),
        policies=m.Policies(
            on_failure=pol.get("on_failure", "halt-host"),
            refuse_irreversible=pol.get("refuse_irreversible", False),
            allow_unsigned=pol.get("allow_unsigned", True),
            max_unavailable=str(pol["max_unavailable"]) if "max_unavailable" in pol else None,
            failure_budget=str(pol["failure_budget"]) if "failure_budget" in pol else None,
            canary=pol.get("canary", 0)),
        hooks=m.HostHooks(pre_host=tuple(hooks.get("pre_host", ())), post_host=tuple(hooks.get("post_host", ())),
                          timeout=m.parse_duration(hooks.get("timeout", 600))),
        image_server=m.ImageServerSettings(
            listen=img.get("listen", "127.0.0.1:0"), advertise_url=img.get("advertise_url"),
            tls_cert=opt_path(img.get("tls_cert")), tls_key=opt_path(img.get("tls_key")),
            max_transfers=img.get("max_transfers", 16)),
        simulator=m.SimulatorSettings(speed=float(sim.get("speed", 1.0)), tls=bool(sim.get("tls", False)),
                                      latency=m.parse_duration(sim.get("latency", 0))),
        allowed_sha256=tuple(s["allowed_sha256"]) if "allowed_sha256" in s else None,
        signing_keys=tuple(root / p for p in s.get("signing_keys", ())),
        server=m.ServerSettings(
            listen=srv.get("listen", "127.0.0.1:8080"), tls_cert=opt_path(srv.get("tls_cert")),
            tls_key=opt_path(srv.get("tls_key")), two_person_rule=bool(srv.get("two_person_rule", False)),
            max_request_bytes=int(srv.get("max_request_bytes", 1024 * 1024)),
            session_lifetime=m.parse_duration(srv.get("session_lifetime", "8h")),
            watch_interval=m.parse_duration(srv.get("watch_interval", "2s")),
            auth_failures_per_minute=int(srv.get("auth_failures_per_minute", 10)),
            engine=srv.get("engine", s.get("engine", "local")), apply_in=srv.get("apply_in", "process"),
            scan_interval=m.parse_duration(srv.get("scan_interval", "1h")),
            scan_jitter=m.parse_duration(srv.get("scan_jitter", "5m")), public_url=srv.get("public_url"),
            lock_alert_after=m.parse_duration(srv.get("lock_alert_after", "2h"))),
        notifications=tuple(_notification_target(root, t) for t in s.get("notifications") or ()
                            if isinstance(t, dict) and "name" in t),
        watchdog=_watchdog(s.get("watchdog")),
        engine=s.get("engine", "local"),
        temporal=m.TemporalSettings(**(s.get("temporal") or {})),
    )


def _notification_target(root: Path, t: dict[str, Any]) -> m.NotificationTarget:
    return m.NotificationTarget(
        name=str(t["name"]), url=t.get("url"), url_env=t.get("url_env"),
        url_file=(root / t["url_file"]) if t.get("url_file") else None,
        events=tuple(t["events"]) if t.get("events") else None, min_severity=t.get("min_severity", "info"),
        timeout=m.parse_duration(t.get("timeout", "10s")), retries=int(t.get("retries", 3)),
        dedup_window=m.parse_duration(t.get("dedup_window", "1h")), queue_size=int(t.get("queue_size", 100)))


def _check_notifications(ctx: LoadContext, s: dict[str, Any]) -> None:
    """Target names are unique; a `url` holds no literal secret (only `${ENV}` references)."""
    seen: set[str] = set()
    for i, t in enumerate(s.get("notifications") or ()):
        if not isinstance(t, dict):
            continue
        name = t.get("name")
        if name in seen:
            ctx.error("hwfw", ["settings", "notifications", i, "name"], f"notification target {name!r} is defined "
                      "twice", code="duplicate-name", expected="a name used by one target")
        seen.add(str(name))
        why = literal_secret_in_url(t["url"]) if isinstance(t.get("url"), str) else None
        if why:
            ctx.error("hwfw", ["settings", "notifications", i, "url"], f"literal secret in a notification URL: "
                      f"{why}", code="literal-secret",
                      expected="a reference: ${ENV_VAR} inside the URL, or url_env: VAR / url_file: PATH")


def _watchdog(w: Any) -> m.WatchdogSettings:
    if isinstance(w, bool):
        return m.WatchdogSettings(enabled=w)
    if not isinstance(w, dict):
        return m.WatchdogSettings()
    return m.WatchdogSettings(enabled=w.get("enabled", True), action=w.get("action", "power-cycle"),
                              timeout=m.parse_duration(w["timeout"]) if "timeout" in w else None)


def _backend(ctx: LoadContext, b: dict[str, Any]) -> m.BackendSettings:
    which = "dsn_env" if "dsn_env" in b else "dsn_file" if "dsn_file" in b else "type"
    if "dsn_env" in b and "dsn_file" in b:
        ctx.error("hwfw", ["settings", "backend", "dsn_file"], "settings.backend: both dsn_env and dsn_file "
                  "name the connection string", code="conflicting-keys", key=True, expected="one of them")
    return m.BackendSettings(
        type=b.get("type", "local"), dsn_env=b.get("dsn_env"),
        dsn_file=(ctx.root / b["dsn_file"]) if b.get("dsn_file") else None,
        schema=b.get("schema", "hwfw"), workspace=b.get("workspace", "default"),
        location=ctx.loc("hwfw", ["settings", "backend", which]))


def _creds(root: Path, c: dict[str, Any] | None) -> m.CredentialsRef | None:
    if not c:
        return None
    return m.CredentialsRef(
        username=c.get("username"), username_env=c.get("username_env"), password_env=c.get("password_env"),
        password_file=(root / c["password_file"]) if c.get("password_file") else None,
        file=(root / c["file"]) if c.get("file") else None)


def _hosts(root: Path, data: dict[str, Any]) -> tuple[m.Host, ...]:
    defaults = data.get("defaults") or {}
    d_creds = _creds(root, defaults.get("credentials"))
    d_proto = defaults.get("protocol", "redfish")
    d_labels = defaults.get("labels") or {}
    d_ca = defaults.get("ca_bundle")
    d_site = defaults.get("site")
    hosts = []
    for h in data.get("hosts") or []:
        ca = h.get("ca_bundle", d_ca)
        hosts.append(m.Host(
            name=h["name"], bmc=h["bmc"], protocol=h.get("protocol", d_proto), vendor=h.get("vendor"),
            model=h.get("model"), labels=m.frozen_map({**d_labels, **(h.get("labels") or {})}),
            credentials=_creds(root, h.get("credentials")) or d_creds,
            ca_bundle=(root / ca) if ca else None, ipmi_port=h.get("ipmi_port"), site=h.get("site", d_site)))
    return tuple(hosts)


def _baselines(data: dict[str, Any]) -> tuple[m.Baseline, ...]:
    out = []
    for name, b in (data.get("baselines") or {}).items():
        sel = b.get("select") or {}
        comps = tuple(
            m.ComponentTarget(id=cid, kind=c.get("kind", cid), version=c["version"], image=c.get("image"),
                              allow_downgrade=c.get("allow_downgrade", False), match=c.get("match"),
                              scheme=c.get("scheme"))
            for cid, c in (b.get("components") or {}).items())
        out.append(m.Baseline(
            name=name, description=b.get("description", ""), components=comps,
            select=m.Selector(vendor=sel.get("vendor"), models=tuple(sel.get("models", ())),
                              labels=m.frozen_map(sel.get("labels")), hosts=tuple(sel.get("hosts", ()))),
            bios_settings=biosdecl.settings_of(b.get("bios_settings"), ("baselines", name, "bios_settings"),
                                               "baseline"),
            overrides=biosdecl.overrides_of(name, b.get("overrides"))))
    return tuple(out)


def _cond(c: dict[str, Any]) -> m.VersionCondition:
    return m.VersionCondition(component=c["component"], constraint=c["version"])


def _matrix(data: dict[str, Any]) -> m.CompatibilityMatrix:
    return m.CompatibilityMatrix(
        rules=tuple(m.CompatRule(id=r["id"], when=_cond(r["when"]), requires=_cond(r["requires"]),
                                 vendor=r.get("vendor"), models=tuple(r.get("models", ())),
                                 active=r.get("active", True), source=r.get("source"))
                    for r in data.get("rules") or []),
        minimums=tuple(m.MinimumRule(id=r["id"], component=r["component"], constraint=r["version"],
                                     vendor=r.get("vendor"), models=tuple(r.get("models", ())),
                                     source=r.get("source"))
                       for r in data.get("minimums") or []),
        stepping_stones=tuple(m.SteppingStone(id=r["id"], component=r["component"], target=r["target"],
                                              from_=r["from"], vendor=r.get("vendor"),
                                              models=tuple(r.get("models", ())), source=r.get("source"))
                              for r in data.get("stepping_stones") or []),
    )


def _sequences(data: dict[str, Any]) -> m.Sequences:
    return m.Sequences(default=tuple(data.get("default") or m.DEFAULT_SEQUENCE),
                       vendors=MappingProxyType({k: tuple(v) for k, v in (data.get("vendors") or {}).items()}))


def _repository(data: dict[str, Any]) -> m.Repository:
    return m.Repository(entries=tuple(
        m.RepositoryEntry(
            id=e["id"], vendor=e["vendor"], component=e["component"], version=e["version"],
            models=tuple(e["models"]), source=e["source"], sha256=e["sha256"], size=e.get("size"),
            scheme=e.get("scheme"), allow_http=e.get("allow_http", False), signature=e.get("signature"),
            public_key=Path(e["public_key"]) if e.get("public_key") else None,
            activation=e.get("activation"), apply_times=tuple(e.get("apply_times", ())),
            method=e.get("method", "auto"),
            duration=m.parse_duration(e["duration"]) if "duration" in e else None,
            critical=e.get("critical", False), rollback=e.get("rollback"), description=e.get("description", ""))
        for e in data.get("images") or []))


# ---------------------------------------------------------------- semantic checks

def _semantic_checks(ctx: LoadContext, ws: m.Workspace, extra: Sequence[WorkspaceCheck]) -> None:
    host_checks, other_checks = SEMANTIC_CHECKS[:1], SEMANTIC_CHECKS[1:]
    for needs, check in [*host_checks, *((c.needs, c.run) for c in extra), *other_checks]:
        if not needs & ctx.broken:
            check(ctx, ws)


def _check_hosts(ctx: LoadContext, ws: m.Workspace) -> None:
    seen: dict[str, int] = {}
    for i, host in enumerate(ws.hosts):
        if host.name in seen:
            first = ctx.loc("inventory", ["hosts", seen[host.name], "name"])
            ctx.error("inventory", ["hosts", i, "name"], f"duplicate host name {host.name!r}"
                      + (f" (first defined at {first})" if first else ""), code="duplicate-host",
                      expected="unique host names")
        else:
            seen[host.name] = i
        if host.bmc.startswith(NETWORK_SCHEMES) and host.credentials is None:
            ctx.error("inventory", ["hosts", i], f"host {host.name!r} has no credentials reference",
                      code="missing-credentials",
                      expected="credentials: {username_env: VAR, password_env: VAR} on the host or under defaults")
        if host.protocol == "ipmi" and host.bmc.startswith("https://"):
            pass  # allowed: the address is reused for IPMI on port 623


def _check_locations(ctx: LoadContext, ws: m.Workspace) -> None:
    """Paths stay inside the workspace (or settings.allowed_roots); URLs carry no credentials."""
    for kind in ("hwfw", "inventory", "repository"):
        if kind in ctx.broken:
            continue
        data = ctx.data.get(kind)
        for at, written in paths.named_paths(kind, data):
            leaves = ctx.policy.outside(written)
            if leaves is not None:
                ctx.error(kind, at, f"{dotted(at)}: {leaves}", code="path-outside-workspace",
                          expected=paths.EXPECTED)
        for at, url in paths.named_urls(kind, data):
            if paths.has_userinfo(url):  # the URL itself is never repeated: it holds the secret
                ctx.error(kind, at, f"{dotted(at)}: the URL holds a user name or password",
                          code="url-credentials",
                          expected="a URL without user@ (BMC credentials: credentials: {username_env: VAR, "
                                   "password_env: VAR})")



def _check_baselines(ctx: LoadContext, ws: m.Workspace) -> None:
    known_kinds = set(m.COMPONENT_KINDS) | {e.component for e in ws.repository.entries}
    for b in ws.baselines:
        for c in b.components:
            path = ["baselines", b.name, "components", c.id]
            if c.kind not in known_kinds:
                ctx.error("baselines", path + (["kind"] if c.kind != c.id else []),
                          f"unknown component kind {c.kind!r}", key=c.kind == c.id,
                          code="unknown-component", expected=one_of(c.kind, known_kinds))
            target = _parse_version(ctx, "baselines", path + ["version"], c.version, c.scheme)
            if c.image is None:
                continue
            entry = ws.repository.get(c.image)
            if entry is None:
                ctx.error("baselines", path + ["image"], f"unknown image id {c.image!r}",
                          code="unknown-image",
                          expected=one_of(c.image, [e.id for e in ws.repository.entries])
                          + " (from the repository file)")
                continue
            if entry.component != c.kind:
                ctx.error("baselines", path + ["image"],
                          f"image {c.image!r} is a {entry.component!r} image, not {c.kind!r}",
                          code="image-mismatch", expected=f"an image whose component is {c.kind!r}")
            if b.select.vendor and entry.vendor != b.select.vendor:
                ctx.error("baselines", path + ["image"],
                          f"image {c.image!r} is for vendor {entry.vendor!r}, baseline selects {b.select.vendor!r}",
                          code="image-mismatch", expected=f"an image for {b.select.vendor!r}")
            if target is not None and entry.version.strip() != c.version.strip():
                image_version = _quiet_parse(entry.version, entry.scheme or c.scheme)
                if image_version is None or image_version != target:
                    ctx.error("baselines", path + ["version"],
                              f"target version {c.version!r} differs from image {c.image!r} version {entry.version!r}",
                              code="image-mismatch", expected=f"version: {entry.version!r}")


def _check_repository(ctx: LoadContext, ws: m.Workspace) -> None:
    seen: dict[str, int] = {}
    for i, e in enumerate(ws.repository.entries):
        if e.id in seen:
            ctx.error("repository", ["images", i, "id"], f"duplicate image id {e.id!r}", code="duplicate-image",
                      expected="unique image ids")
        seen.setdefault(e.id, i)
        _parse_version(ctx, "repository", ["images", i, "version"], e.version, e.scheme)
        if e.source.startswith("http://") and not e.allow_http:
            ctx.error("repository", ["images", i, "source"], f"image {e.id!r} has an http:// source",
                      code="insecure-source", expected="an https:// source, or allow_http: true on this entry")


def _check_matrix(ctx: LoadContext, ws: m.Workspace) -> None:
    for i, r in enumerate(ws.matrix.rules):
        _parse_constraint(ctx, "compatibility", ["rules", i, "when", "version"], r.when.constraint)
        _parse_constraint(ctx, "compatibility", ["rules", i, "requires", "version"], r.requires.constraint)
    for i, minimum in enumerate(ws.matrix.minimums):
        _parse_constraint(ctx, "compatibility", ["minimums", i, "version"], minimum.constraint)
    for i, stone in enumerate(ws.matrix.stepping_stones):
        _parse_constraint(ctx, "compatibility", ["stepping_stones", i, "target"], stone.target)
        _parse_constraint(ctx, "compatibility", ["stepping_stones", i, "from"], stone.from_)


def _check_sequences(ctx: LoadContext, ws: m.Workspace) -> None:
    seqs = [("default", ["default"], ws.sequences.default)]
    seqs += [(v, ["vendors", v], s) for v, s in ws.sequences.vendors.items()]
    for name, path, seq in seqs:
        first: dict[str, int] = {}
        for i, comp in enumerate(seq):
            if comp in first:
                cycle = " -> ".join(seq[first[comp]:i + 1])
                ctx.error("sequences", path + [i], f"sequence {name!r} lists {comp!r} twice, a cycle: {cycle}",
                          code="sequence-cycle", expected="each component once per sequence")
            first.setdefault(comp, i)


def _check_baseline_matrix(ctx: LoadContext, ws: m.Workspace) -> None:
    """A baseline's own targets must satisfy every matrix rule that applies to it."""
    for b in ws.baselines:
        targets = {c.kind: c for c in b.components}
        models = b.select.models or (None,)
        for model in models:
            for rule in ws.matrix.rules:
                if not rule.applies_to(b.select.vendor, model) and not (
                        rule.vendor is None or rule.vendor == b.select.vendor and not rule.models):
                    continue
                when_c, req_c = targets.get(rule.when.component), targets.get(rule.requires.component)
                if when_c is None or req_c is None:
                    continue
                if _holds(when_c, rule.when.constraint) and _holds(req_c, rule.requires.constraint) is False:
                    ctx.error("baselines", ["baselines", b.name, "components", req_c.id, "version"],
                              f"baseline {b.name!r} breaks compatibility rule {rule.id!r}: "
                              f"{when_c.kind} {when_c.version} requires {rule.requires.component} "
                              f"{rule.requires.constraint}, baseline has {req_c.version}",
                              code="matrix-violation", expected=f"{rule.requires.component} {rule.requires.constraint}")
            for mn in ws.matrix.minimums:
                if not mn.applies_to(b.select.vendor, model):
                    continue
                c = targets.get(mn.component)
                if c is not None and _holds(c, mn.constraint) is False:
                    ctx.error("baselines", ["baselines", b.name, "components", c.id, "version"],
                              f"baseline {b.name!r} sets {c.kind} {c.version}, below minimum rule {mn.id!r} "
                              f"({mn.constraint})", code="matrix-violation", expected=f"{c.kind} {mn.constraint}")
            break  # one pass per baseline; models only narrow which rules apply


def _check_host_baselines(ctx: LoadContext, ws: m.Workspace) -> None:
    index = BaselineIndex(ws.baselines)
    for i, host in enumerate(ws.hosts):
        matched = [b.name for b in index.candidates(host.vendor, host.model) if b.select.matches(host)]
        if len(matched) > 1:
            ctx.error("inventory", ["hosts", i, "name"],
                      f"host {host.name!r} is selected by {len(matched)} baselines: {', '.join(sorted(matched))}",
                      code="ambiguous-baseline", expected="exactly one baseline per host (narrow the select: blocks)")


# Each check with the file kinds it reads; it is skipped when one of them is broken.
# The host checks come first (a caller's WorkspaceChecks run right after them).
SEMANTIC_CHECKS: list[tuple[set[str], Callable[[LoadContext, m.Workspace], None]]] = [
    ({"inventory"}, _check_hosts),
    ({"hwfw"}, _check_locations),
    ({"repository"}, _check_repository),
    ({"baselines", "repository"}, _check_baselines),
    ({"compatibility"}, _check_matrix),
    ({"sequences"}, _check_sequences),
    ({"baselines", "compatibility"}, _check_baseline_matrix),
    ({"inventory", "baselines"}, _check_host_baselines),
    ({"inventory", "baselines"}, biosdecl.check_settings),
    ({"baselines"}, biosdecl.check_passwords),
]


# ---------------------------------------------------------------- helpers

class BaselineIndex:
    """Narrows the baselines that could select a host by vendor and exact model, so
    matching 10,000 hosts against hundreds of baselines stays linear."""

    def __init__(self, baselines: Sequence[m.Baseline]) -> None:
        self._exact: dict[tuple[str | None, str], list[m.Baseline]] = defaultdict(list)
        self._other: list[m.Baseline] = []
        for b in baselines:
            models = b.select.models
            if models and not any(ch in pat for pat in models for ch in "*?["):
                for model in models:
                    self._exact[(b.select.vendor, model)].append(b)
            else:
                self._other.append(b)

    def candidates(self, vendor: str | None, model: str | None) -> list[m.Baseline]:
        found = list(self._other)
        if model is not None:
            found += self._exact.get((vendor, model), [])
            found += self._exact.get((None, model), [])
            if vendor is None:
                found += [b for (v, mo), bs in self._exact.items() if mo == model and v is not None for b in bs]
        return found


def _holds(target: m.ComponentTarget, constraint: str) -> bool | None:
    """Does a baseline target satisfy a constraint? None when it cannot be decided."""
    try:
        return versions.parse_constraint(constraint, target.scheme).contains(
            versions.parse(target.version, target.scheme))
    except (versions.InvalidVersion, versions.InvalidConstraint, versions.IncomparableVersions):
        return None


def _quiet_parse(text: str, scheme: str | None) -> versions.Version | None:
    try:
        return versions.parse(text, scheme)
    except versions.InvalidVersion:
        return None


def _parse_version(ctx: LoadContext, kind: str, path: list[Any], text: str,
                   scheme: str | None) -> versions.Version | None:
    try:
        return versions.parse(text, scheme)
    except versions.InvalidVersion as exc:
        ctx.error(kind, path, f"unparseable version {text!r}: {exc}", code="invalid-version",
                  expected=f"a version of scheme {scheme!r}" if scheme else "a firmware version such as 7.10.30.00")
        return None


def _parse_constraint(ctx: LoadContext, kind: str, path: list[Any], text: str) -> None:
    try:
        versions.parse_constraint(text)
    except (versions.InvalidConstraint, versions.InvalidVersion) as exc:
        ctx.error(kind, path, f"unparseable version constraint {text!r}: {exc}", code="invalid-constraint",
                  expected="clauses like '>=7.00,<8', '==2.10', '7.00 - 7.99'")
