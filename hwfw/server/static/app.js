// hwfw dashboard. Hand-written, no dependencies, no inline script (the page's CSP allows
// only this file). Every text from the server goes into the page with textContent, never
// as HTML. Live run progress comes over the run's WebSocket, folded the way the server
// folds it (hwfw/api/service/progress.py): host rows change state without a reload.
"use strict";
(() => {
  const HOST_STATE = {converged: "done", failed: "failed", "rolled-back": "failed", refused: "failed",
    skipped: "skipped", deferred: "skipped", "not-started": "skipped", interrupted: "interrupted"};
  const STATUSES = ["compliant", "behind", "ahead", "unknown", "missing", "unreachable"];
  const $ = (id) => document.getElementById(id);
  let me = null;
  let socket = null;

  // -------------------------------------------------------------------- DOM helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const badge = (state, text) => el("span", {class: "badge", "data-state": state, text: text || state});
  const link = (href, text) => el("a", {href, text});
  const short = (sha) => (sha ? String(sha).slice(0, 10) : "—");
  const when = (t) => (t ? String(t).replace("T", " ").replace("Z", " UTC") : "—");
  function table(headers, rows, attrs) {
    return el("table", attrs || {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {class: /^#/.test(h) ? "num" : null,
        scope: "col", text: h.replace(/^#/, "")})))),
      el("tbody", {}, rows));
  }
  function show(...nodes) {
    $("view").replaceChildren(...nodes.flat());
  }
  function banner(text) {
    const b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
  }

  // -------------------------------------------------------------------- API
  async function api(method, path, body) {
    const headers = {"X-Requested-With": "hwfw", "Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    if (response.status === 401 && path !== "/api/session") {
      signedOut();
      throw new Error("signed out");
    }
    const text = await response.text();
    const doc = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const detail = doc && doc.detail ? doc.detail : `${response.status} ${response.statusText}`;
      throw new Error(doc && doc.hint ? `${detail} (${doc.hint})` : detail);
    }
    return doc;
  }
  const can = (action) => Boolean(me && me.actions.includes(action));
  async function act(button, work) {
    button.disabled = true;
    try {
      banner("");
      await work();
    } catch (err) {
      banner(err.message);
    } finally {
      button.disabled = false;
    }
  }

  // -------------------------------------------------------------------- sign in / out
  function signedOut() {
    me = null;
    closeSocket();
    $("nav").hidden = true;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    $("sign-in").hidden = false;
    $("view").replaceChildren();
    $("token").focus();
  }
  async function start() {
    me = await api("GET", "/api/session");     // 204 (null): not signed in
    if (!me) return;
    $("sign-in").hidden = true;
    $("nav").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = `${me.name} (${me.role})`;
    route();
  }
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    try {
      await api("POST", "/api/session", {token: $("token").value.trim()});
      $("token").value = "";
      await start();
    } catch (err) {
      $("sign-in-error").textContent = err.message;
    }
  });
  $("sign-out").addEventListener("click", async () => {
    await api("DELETE", "/api/session").catch(() => null);
    signedOut();
  });

  // -------------------------------------------------------------------- routing
  function route() {
    if (!me) return;
    closeSocket();
    banner("");
    const parts = (location.hash || "#/fleet").slice(2).split("/").map(decodeURIComponent);
    const section = parts[0] || "fleet";
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.section === (section === "hosts" ? "fleet" : section)) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const views = {fleet: fleetView, plans: parts[1] ? () => planView(parts[1]) : plansView,
      runs: parts[1] ? () => runView(parts[1]) : runsView, repository: repositoryView, audit: auditView,
      hosts: () => hostView(parts[1])};
    (views[section] || fleetView)().catch((err) => banner(err.message));
    $("main").focus({preventScroll: true});
  }
  window.addEventListener("hashchange", route);

  // -------------------------------------------------------------------- fleet
  function stat(id, value, label) {
    return el("div", {class: "stat"}, el("div", {class: "value", id, text: value}), el("div", {class: "label", text: label}));
  }
  async function fleetView() {
    const status = await api("GET", "/api/firmware/status");
    const ws = status.workspace;
    $("workspace").textContent = `${ws.path.split("/").pop()} @ ${ws.commit ? short(ws.commit) : "no Git commit"}${ws.dirty ? " (modified)" : ""}`;
    $("workspace").title = ws.path;
    const s = status.summary;
    const nodes = [el("h1", {text: "Fleet"})];
    if (!ws.valid) nodes.push(el("p", {class: "error", text: `The workspace is invalid: ${ws.errors} error(s).`}));
    if (status.current_run) {
      const r = status.current_run;
      nodes.push(el("p", {class: "card"}, "A run is going on: ", link(`#/runs/${r.run_id}`, `${r.kind} ${r.run_id}`),
        ` by ${r.created_by}`));
    }
    nodes.push(el("div", {class: "stats"},
      stat("fleet-hosts", s ? s.hosts : "—", "hosts"),
      stat("fleet-compliant", s ? s.compliant_hosts : "—", "compliant hosts"),
      stat("fleet-behind", s ? s.components.behind : "—", "components behind"),
      stat("fleet-unreachable", s ? s.unreachable : "—", "unreachable hosts"),
      stat("fleet-critical", s ? s.critical_behind_hosts : "—", "behind on critical images")));
    nodes.push(el("p", {class: "muted", text: `Fleet read ${when(status.inventory.time)}` +
      (status.inventory.scanning ? " (reading now…)" : "") + (status.inventory.error ? ` — ${status.inventory.error}` : "")}));
    if (status.scan) {
      const sc = status.scan;
      nodes.push(el("p", {class: "muted", id: "last-scan", "data-result": sc.result,
        text: `Last scheduled scan ${when(sc.time)}: ${sc.result}` + (sc.result === "ok" ? ` in ${sc.seconds} s, ` +
          `${sc.alerts} alert(s)` : "") + (sc.error ? ` — ${sc.error}` : "")}));
    }
    for (const b of status.baselines) {
      nodes.push(el("h2", {text: `${b.name} — ${b.compliant_hosts}/${b.hosts} hosts compliant`}));
      nodes.push(table(["Component", "Target", ...STATUSES.map((x) => `#${x}`)], b.components.map((c) =>
        el("tr", {"data-baseline": b.name, "data-component": c.component},
          el("td", {}, c.component, c.critical ? el("span", {class: "critical", title: "critical image", text: " !"}) : null),
          el("td", {text: c.target}),
          STATUSES.map((x) => el("td", {class: "num", "data-count": x, text: c.counts[x] || 0}))))));
    }
    nodes.push(el("h2", {text: "Hosts"}), hostFilters(status), el("div", {id: "host-table"}));
    show(...nodes);
    await loadHosts();
  }
  function hostFilters(status) {
    const statusSelect = el("select", {id: "filter-status"}, el("option", {value: "", text: "any status"}),
      [...STATUSES, "unmanaged"].map((x) => el("option", {value: x, text: x})));
    const baselineSelect = el("select", {id: "filter-baseline"}, el("option", {value: "", text: "any baseline"}),
      status.baselines.map((b) => el("option", {value: b.name, text: b.name})));
    const query = el("input", {id: "filter-q", type: "search", placeholder: "host name"});
    const form = el("form", {class: "inline", role: "search"},
      el("div", {}, el("label", {for: "filter-status", text: "Status"}), statusSelect),
      el("div", {}, el("label", {for: "filter-baseline", text: "Baseline"}), baselineSelect),
      el("div", {}, el("label", {for: "filter-q", text: "Name"}), query),
      el("button", {type: "submit", text: "Filter"}));
    form.addEventListener("submit", (e) => { e.preventDefault(); loadHosts().catch((err) => banner(err.message)); });
    return form;
  }
  async function loadHosts() {
    const params = new URLSearchParams();
    for (const [id, name] of [["filter-status", "status"], ["filter-baseline", "baseline"], ["filter-q", "q"]]) {
      const value = $(id) && $(id).value;
      if (value) params.set(name, value);
    }
    const {hosts} = await api("GET", `/api/firmware/hosts?${params}`);
    $("host-table").replaceChildren(table(["Host", "Baseline", "Model", "Status", "Behind"], hosts.map((h) =>
      el("tr", {"data-host": h.name},
        el("td", {}, link(`#/hosts/${encodeURIComponent(h.name)}`, h.name)),
        el("td", {text: h.baseline || "—"}), el("td", {text: [h.vendor, h.model].filter(Boolean).join(" ") || "—"}),
        el("td", {}, badge(h.status), h.critical_behind ? el("span", {class: "critical", text: " critical"}) : null),
        el("td", {text: h.error || h.behind.join(", ") || "—"})))));
  }
  async function hostView(name) {
    const h = await api("GET", `/api/firmware/hosts/${encodeURIComponent(name)}`);
    const comps = (h.compliance && h.compliance.components) || [];
    show(el("h1", {text: h.name}),
      el("dl", {class: "kv card"}, Object.entries(h.settings).flatMap(([k, v]) =>
        [el("dt", {text: k}), el("dd", {text: typeof v === "object" ? JSON.stringify(v) : String(v)})])),
      el("h2", {text: "Components"}),
      table(["Component", "Key", "Current", "Target", "Status"], comps.map((c) => el("tr", {},
        el("td", {text: c.component}), el("td", {text: c.key}), el("td", {text: c.current || "?"}),
        el("td", {text: c.target}), el("td", {}, badge(c.status)))),
      ),
      el("h2", {text: "Runs"}),
      table(["Run", "Status", "Started", "By"], h.runs.map((r) => el("tr", {},
        el("td", {}, link(`#/runs/${r.run_id}`, r.run_id)), el("td", {}, badge(r.status)),
        el("td", {text: when(r.started)}), el("td", {text: r.created_by})))),
      el("h2", {text: "Audit"}),
      table(["Time", "Action", "Component", "Before → after", "Outcome", "By"], h.audit.map((a) => el("tr", {},
        el("td", {text: when(a.time)}), el("td", {text: a.action}), el("td", {text: a.component}),
        el("td", {text: `${a.before || "?"} → ${a.after || "?"}`}), el("td", {}, badge(a.outcome)),
        el("td", {text: a.operator})))));
  }

  // -------------------------------------------------------------------- plans
  async function plansView() {
    const {plans} = await api("GET", "/api/firmware/plans");
    const nodes = [el("h1", {text: "Plans"})];
    if (can("plan")) {
      const targets = el("input", {id: "plan-targets", placeholder: "all hosts (names or globs, comma separated)", size: 40});
      const exclude = el("input", {id: "plan-exclude", placeholder: "none", size: 24});
      const parallelism = el("input", {id: "plan-parallelism", type: "number", min: 1, placeholder: "default"});
      const button = el("button", {id: "new-plan", type: "submit", text: "Make a plan"});
      const form = el("form", {class: "inline card"},
        el("div", {}, el("label", {for: "plan-targets", text: "Targets"}), targets),
        el("div", {}, el("label", {for: "plan-exclude", text: "Exclude"}), exclude),
        el("div", {}, el("label", {for: "plan-parallelism", text: "Parallelism"}), parallelism), button);
      const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        act(button, async () => {
          banner("Reading the fleet and planning…");
          const rollout = parallelism.value ? {parallelism: Number(parallelism.value)} : {};
          const made = await api("POST", "/api/firmware/plans", {targets: list(targets.value), exclude: list(exclude.value), rollout});
          location.hash = `#/plans/${made.plan.plan_id}`;
        });
      });
      nodes.push(form);
    }
    nodes.push(table(["Plan", "Made", "By", "Commit", "#Updates", "#Reboots", "Decision"], plans.map((p) => el("tr", {"data-plan": p.plan_id},
      el("td", {}, link(`#/plans/${p.plan_id}`, p.plan_id)), el("td", {text: when(p.created)}),
      el("td", {text: p.created_by}), el("td", {text: short(p.commit)}),
      el("td", {class: "num", text: p.summary.updates}), el("td", {class: "num", text: p.summary.host_reboots}),
      el("td", {}, p.decision ? badge(p.decision) : el("span", {class: "muted", text: "none"}))))));
    show(...nodes);
  }
  function changeItems(host) {
    // Every list of the host whose items say from/to (firmware changes today; settings
    // changes later) is shown the same way.
    const items = [];
    for (const [field, value] of Object.entries(host)) {
      if (!Array.isArray(value)) continue;
      for (const c of value) {
        if (!c || typeof c !== "object" || !("to" in c || "target" in c)) continue;
        const from = c.from ?? c.current ?? "?";
        const to = c.to ?? c.target ?? "?";
        if (c.action === "noop" || from === to) continue;
        items.push(el("li", {"data-field": field}, `${c.key || c.component || c.name || field}: `,
          el("span", {class: "from", text: from}), " → ", el("span", {class: "to", text: to}),
          c.refused ? el("span", {class: "error", text: ` refused: ${c.message || c.reason}`}) : null));
      }
    }
    return items;
  }
  async function planView(id) {
    const view = await api("GET", `/api/firmware/plans/${encodeURIComponent(id)}`);
    const plan = view.plan;
    const doc = plan.document;
    const actions = el("div", {class: "actions"});
    if (can("approve")) {
      const approve = el("button", {id: "approve", type: "button", text: "Approve"});
      const reject = el("button", {id: "reject", type: "button", class: "danger", text: "Reject"});
      approve.addEventListener("click", () => act(approve, async () => { await api("POST", `/api/firmware/plans/${id}/approve`, {verdict: "approved"}); route(); }));
      reject.addEventListener("click", () => act(reject, async () => { await api("POST", `/api/firmware/plans/${id}/approve`, {verdict: "rejected"}); route(); }));
      actions.append(approve, reject);
    }
    if (can("update")) {
      const apply = el("button", {id: "apply", type: "button", text: "Apply", disabled: !view.approved || view.stale.length > 0});
      apply.addEventListener("click", () => act(apply, async () => {
        const started = await api("POST", "/api/firmware/update", {plan_id: id});
        location.hash = `#/runs/${started.run.run_id}`;
      }));
      actions.append(apply);
    }
    const hosts = (doc.hosts || []).map((h) => ({h, items: changeItems(h)})).filter((x) => x.items.length);
    show(el("h1", {text: `Plan ${plan.plan_id}`}),
      el("dl", {class: "kv card"},
        el("dt", {text: "Made"}), el("dd", {text: `${when(plan.created)} by ${plan.created_by}`}),
        el("dt", {text: "Commit"}), el("dd", {text: plan.commit || "not a Git checkout"}),
        el("dt", {text: "Summary"}), el("dd", {text: `${doc.summary.updates} updates on ${doc.summary.hosts} hosts, ` +
          `${doc.summary.host_reboots} host reboots, ${doc.summary.refused} refused`}),
        el("dt", {text: "Decision"}), el("dd", {id: "decision"}, view.approvals.length
          ? badge(view.approvals[view.approvals.length - 1].verdict) : el("span", {class: "muted", text: "none yet"}),
        view.approvals.length ? ` by ${view.approvals[view.approvals.length - 1].approver}` : null),
        el("dt", {text: "Stale"}), el("dd", {text: view.stale.length ? view.stale.join("; ") : "no"})),
      actions,
      el("h2", {text: "Changes"}),
      hosts.length ? hosts.map(({h, items}) => el("section", {class: "card", "data-host": h.name},
        el("strong", {text: h.name}), ` (${h.baseline || "no baseline"})`, el("ul", {class: "changes"}, items)))
        : el("p", {class: "muted", text: "Nothing to change."}));
  }

  // -------------------------------------------------------------------- runs
  async function runsView() {
    const {runs} = await api("GET", "/api/firmware/runs");
    show(el("h1", {text: "Runs"}), table(["Run", "Kind", "Status", "Started", "Finished", "By", "Message"],
      runs.map(({run, resumable}) => el("tr", {"data-run": run.run_id},
        el("td", {}, link(`#/runs/${run.run_id}`, run.run_id)), el("td", {text: run.kind}),
        el("td", {}, badge(run.status), resumable ? " resumable" : null), el("td", {text: when(run.started)}),
        el("td", {text: when(run.finished)}), el("td", {text: run.created_by}), el("td", {text: run.message || ""})))));
  }
  function foldEvent(state, seq, e) {
    state.seq = Math.max(state.seq, seq);
    const host = e.host ? (state.hosts[e.host] ||= {name: e.host, state: "waiting", steps: {}, steps_total: 0, steps_done: 0}) : null;
    if (e.type === "run-started") for (const name of e.run.hosts) state.hosts[name] ||= {name, state: "waiting", steps: {}, steps_total: 0, steps_done: 0};
    else if (e.type === "host-started") Object.assign(host, {state: "running", steps_total: e.steps});
    else if (e.type === "step-started") host.steps[e.step.id] = {id: e.step.id, kind: e.step.kind, component: e.step.component, state: "running"};
    else if (e.type === "step-progress" && host.steps[e.step_id]) Object.assign(host.steps[e.step_id], {percent: e.percent, message: e.message});
    else if (e.type === "step-finished") {
      const step = host.steps[e.step_id] ||= {id: e.step_id, kind: e.kind};
      Object.assign(step, {state: e.outcome.status, seconds: e.outcome.seconds, message: e.outcome.message});
      if (["ok", "pending-activation", "not-needed"].includes(step.state)) host.steps_done += 1;
    } else if (e.type === "host-finished") Object.assign(host, {state: HOST_STATE[e.outcome.status] || e.outcome.status,
      status: e.outcome.status, steps_done: e.outcome.steps_done, steps_total: e.outcome.steps_total, message: e.outcome.message});
    else if (e.type && e.type.startsWith("image-") && e.type !== "image-served") state.images[e.image] = {event: e.event, bytes: e.bytes, total: e.total};
  }
  function hostRow(h) {
    const steps = Object.values(h.steps);
    const pct = h.steps_total ? Math.round((100 * h.steps_done) / h.steps_total) : (h.state === "done" ? 100 : 0);
    return el("tr", {"data-host": h.name, "data-state": h.state},
      el("td", {}, link(`#/hosts/${encodeURIComponent(h.name)}`, h.name)),
      el("td", {}, badge(h.state)),
      el("td", {}, el("div", {class: "bar", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100},
        el("span", {style: null})), el("span", {class: "muted", text: `${h.steps_done}/${h.steps_total || "?"} steps`})),
      el("td", {}, el("ol", {class: "steps"}, steps.map((s) => el("li", {"data-state": s.state,
        title: [s.message, s.seconds !== undefined && s.seconds !== null ? `${s.seconds}s` : ""].filter(Boolean).join(" — "),
        text: `${s.kind} ${s.component || ""} ${s.state === "running" && s.percent != null ? `${Math.round(s.percent)}%` : ""}`.trim()}))),
      h.message ? el("div", {class: "error", text: h.message}) : null));
  }
  function renderProgress(state) {
    const container = $("run-hosts");
    if (!container) return;
    container.dataset.seq = String(state.seq);
    const rows = Object.values(state.hosts).sort((a, b) => a.name.localeCompare(b.name)).map(hostRow);
    container.replaceChildren(table(["Host", "State", "Progress", "Steps"], rows));
    for (const bar of container.querySelectorAll(".bar")) bar.firstChild.style.width = `${bar.getAttribute("aria-valuenow")}%`;
    const images = Object.entries(state.images);
    if (images.length) container.append(table(["Image", "State", "#Bytes"], images.map(([id, i]) => el("tr", {"data-image": id},
      el("td", {text: id}), el("td", {}, badge(i.event === "cached" || i.event === "already-cached" ? "done" : i.event, i.event)),
      el("td", {class: "num", text: i.total ? `${i.bytes}/${i.total}` : i.bytes})))));
  }
  async function runView(id) {
    const view = await api("GET", `/api/firmware/runs/${encodeURIComponent(id)}`);
    const run = view.run;
    const state = {seq: 0, hosts: {}, images: {}};
    for (const h of view.progress.hosts) {
      state.hosts[h.name] = {...h, steps: Object.fromEntries(h.steps.map((s) => [s.id, s]))};
    }
    for (const i of view.progress.images || []) state.images[i.id] = i;
    state.seq = view.progress.last_seq;
    const actions = el("div", {class: "actions"});
    if (can("cancel") && !["succeeded", "failed", "interrupted"].includes(run.status)) {
      const cancel = el("button", {id: "cancel", type: "button", class: "danger", text: "Cancel"});
      cancel.addEventListener("click", () => act(cancel, () => api("POST", `/api/firmware/runs/${id}/cancel`, {})));
      actions.append(cancel);
    }
    if (can("update") && view.resumable) {
      const resume = el("button", {id: "resume", type: "button", text: "Resume"});
      resume.addEventListener("click", () => act(resume, async () => {
        const started = await api("POST", `/api/firmware/runs/${id}/resume`);
        location.hash = `#/runs/${started.run.run_id}`;
      }));
      actions.append(resume);
    }
    show(el("h1", {text: `Run ${run.run_id}`}),
      el("dl", {class: "kv card"},
        el("dt", {text: "Status"}), el("dd", {id: "run-status"}, badge(run.status)),
        el("dt", {text: "Kind"}), el("dd", {text: `${run.kind} (${run.engine} engine)`}),
        el("dt", {text: "Plan"}), el("dd", {}, run.plan_id ? link(`#/plans/${run.plan_id}`, run.plan_id) : "—"),
        el("dt", {text: "Started"}), el("dd", {text: `${when(run.started)} by ${run.created_by}`}),
        el("dt", {text: "Finished"}), el("dd", {id: "run-finished", text: when(run.finished)}),
        el("dt", {text: "Message"}), el("dd", {id: "run-message", text: run.message || ""})),
      actions, el("div", {id: "run-hosts", "data-seq": state.seq}));
    renderProgress(state);
    if (!["succeeded", "failed", "interrupted"].includes(run.status)) follow(id, state);
  }
  function closeSocket() {
    if (socket) {
      socket.onclose = null;
      socket.close();
      socket = null;
    }
  }
  function follow(id, state) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/firmware/runs/${encodeURIComponent(id)}/ws?after=${state.seq}`);
    socket = ws;
    let pending = false;
    const paint = () => { pending = false; renderProgress(state); };
    ws.onmessage = (message) => {
      const doc = JSON.parse(message.data);
      if (doc.end) {
        $("run-status").replaceChildren(badge(doc.end.status));
        $("run-finished").textContent = when(doc.end.finished);
        $("run-message").textContent = doc.end.message || "";
        const cancel = $("cancel");
        if (cancel) cancel.remove();
        paint();
        return;
      }
      for (const item of doc.events) foldEvent(state, item.seq, item.event);
      if (!pending) { pending = true; requestAnimationFrame(paint); }
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (event.code !== 1000) setTimeout(() => { if (location.hash === `#/runs/${id}`) follow(id, state); }, 1000);
    };
  }

  // -------------------------------------------------------------------- repository, audit
  async function repositoryView() {
    const repo = await api("GET", "/api/firmware/repository");
    const actions = el("div", {class: "actions"});
    if (can("sync")) {
      const sync = el("button", {id: "sync", type: "button", text: "Sync images"});
      sync.addEventListener("click", () => act(sync, async () => {
        const started = await api("POST", "/api/firmware/repository/sync", {});
        location.hash = `#/runs/${started.run.run_id}`;
      }));
      actions.append(sync);
    }
    const nodes = [el("h1", {text: "Repository"}), el("p", {class: "muted", text: `Cache: ${repo.cache}`}), actions];
    if (repo.sync) nodes.push(el("p", {class: "card"}, "A sync is going on: ", link(`#/runs/${repo.sync.run_id}`, repo.sync.run_id)));
    nodes.push(table(["Image", "Vendor", "Component", "Version", "#Size", "Cached", "Used"], repo.images.map((i) => el("tr", {"data-image": i.id},
      el("td", {}, i.id, i.critical ? el("span", {class: "critical", title: "critical image", text: " !"}) : null),
      el("td", {text: i.vendor}), el("td", {text: i.component}), el("td", {text: i.version}),
      el("td", {class: "num", text: i.size ?? "?"}), el("td", {}, badge(i.cached ? "ok" : "missing", i.cached ? "cached" : "not cached")),
      el("td", {text: i.referenced ? "yes" : "no"})))));
    show(...nodes);
  }
  async function auditView() {
    const {entries} = await api("GET", "/api/firmware/audit");
    show(el("h1", {text: "Audit trail"}), table(["Time", "Who", "Action", "Target", "Detail"], entries.map((a) => el("tr", {},
      el("td", {text: when(a.time)}), el("td", {text: a.principal}), el("td", {text: a.action}),
      el("td", {}, a.action.startsWith("run") ? link(`#/runs/${a.target}`, a.target)
        : a.action.startsWith("plan") ? link(`#/plans/${a.target}`, a.target) : a.target),
      el("td", {text: Object.keys(a.detail || {}).length ? JSON.stringify(a.detail) : ""})))));
  }

  start().then(() => { if (!me) signedOut(); });
})();
