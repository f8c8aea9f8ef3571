// The troupe dashboard page: a snapshot of the cluster from /api/stream, then its updates, drawn into four views
// (actors here; cluster and events in cluster.js, job in job.js). No framework: redrawn from `state`, throttled.
"use strict";

const state = {
  clusterId: "",
  actors: new Map(),
  hosts: new Map(),
  phases: new Map(),
  jobs: new Map(),
  stragglers: new Map(),
  events: [],
  series: new Map(),
  recoveries: [],
  nats: null,
  /** every nats-server of the cluster, as the dashboard last probed them */
  servers: [],
  /** job → each worker's collective bytes and seconds ({ step, last: { worker: tally }, total: { worker: tally } }). */
  collectives: new Map(),
  /** job → each worker's busy seconds in its last committed step ({ step, seconds: { worker: s } }). */
  busy: new Map(),
  /** actor id → the record states this page saw it go through (a failure shows even when it is over in a second). */
  seen: new Map(),
};
let selectedActor = null;
let selectedJob = null;
let logSource = null;
const PHASE_COLOURS = { detect: "#d62728", spawn: "#ff7f0e", boot: "#bcbd22", join: "#9467bd", restore: "#1f77b4", rerun: "#2ca02c" };
/** Chart points kept per job (as the dashboard server keeps). */
const POINTS_KEPT = 20_000;
const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const age = (ms) => {
  if (ms == null) return "-";
  const s = Math.max(0, Date.now() - ms) / 1000;
  return s < 60 ? `${s.toFixed(1)}s` : s < 3600 ? `${Math.floor(s / 60)}m${Math.floor(s % 60)}s` : `${Math.floor(s / 3600)}h`;
};
const coordsText = (c) =>
  Object.entries(c ?? {})
    .map(([k, v]) => `${k}${v}`)
    .join(",") || "-";
const jobOf = (a) =>
  state.jobs.has(a.supervisor)
    ? a.supervisor
    : state.jobs.has(a.id.replace(/-coordinator$/, ""))
      ? a.id.replace(/-coordinator$/, "")
      : null;

// ---- the stream ------------------------------------------------------------------------------------------------

function apply(u) {
  switch (u.t) {
    case "actor": {
      const before = state.actors.get(u.rec.id);
      if (!before || before.state !== u.rec.state) {
        const seen = state.seen.get(u.rec.id) ?? [];
        seen.push(u.rec.state);
        state.seen.set(u.rec.id, seen.slice(-12));
      }
      state.actors.set(u.rec.id, u.rec);
      break;
    }
    case "host":
      state.hosts.set(u.rec.name, u.rec);
      break;
    case "phase":
      state.phases.set(`${u.kind}.${u.id}`, u.phase);
      break;
    case "job":
      state.jobs.set(u.rec.id, u.rec);
      break;
    case "straggler":
      if (u.flag) state.stragglers.set(u.id, u.flag);
      else state.stragglers.delete(u.id);
      break;
    case "event":
      state.events.push(u.e);
      if (state.events.length > 3000) state.events.splice(0, 1000);
      break;
    case "point": {
      const s = series(u.job);
      // `cut`: the length the points were cut back to since the charts last took them (a step run again, the oldest
      // dropped); the charts append the rest to the columns they keep (job.js)
      while (s.points.length && s.points[s.points.length - 1].step >= u.p.step) {
        s.points.pop();
        s.cut = Math.min(s.cut ?? Infinity, s.points.length);
      }
      s.points.push(u.p);
      if (s.points.length > POINTS_KEPT) {
        s.points.splice(0, s.points.length - POINTS_KEPT);
        s.cut = 0;
      }
      break;
    }
    case "val":
      series(u.job).val.push({ step: u.step, loss: u.loss });
      break;
    case "nats":
      state.nats = u.health;
      break;
    case "busy":
      state.busy.set(u.job, u.busy);
      break;
    case "collective":
      state.collectives.set(u.job, u.c);
      break;
    case "natsServers":
      state.servers = u.servers;
      break;
    case "recoveries":
      state.recoveries = u.bars;
      break;
  }
}

function series(job) {
  if (!state.series.has(job)) state.series.set(job, { points: [], val: [] });
  return state.series.get(job);
}

function onSnapshot(s) {
  state.clusterId = s.clusterId;
  for (const a of s.actors) {
    state.actors.set(a.id, a);
    state.seen.set(a.id, [a.state]);
  }
  for (const h of s.hosts) state.hosts.set(h.name, h);
  for (const [k, v] of Object.entries(s.phases)) state.phases.set(k, v);
  for (const j of s.jobs) state.jobs.set(j.id, j);
  for (const [k, v] of Object.entries(s.stragglers)) state.stragglers.set(k, v);
  state.events = s.events;
  for (const [k, v] of Object.entries(s.series)) state.series.set(k, v);
  state.recoveries = s.recoveries;
  state.busy = new Map(Object.entries(s.busy ?? {}));
  state.nats = s.nats;
  state.servers = s.servers ?? [];
  state.collectives = new Map(Object.entries(s.collectives ?? {}));
}

function connect() {
  const es = new EventSource("/api/stream");
  es.onopen = () => setConn("live", "live");
  es.onerror = () => setConn("reconnecting", "reconnecting…");
  es.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.t === "snapshot") onSnapshot(msg);
    else for (const u of msg.updates) apply(u);
    schedule();
  };
}

function setConn(s, text) {
  const el = $("#conn");
  el.dataset.state = s;
  el.textContent = text;
}

let pending = false;
/**
 * Redraws at most every RENDER_EVERY_MS (then at the next animation frame): a job commits many steps a second, and a
 * page redrawn at each would take CPU from the job on the same machine (npm run bench -- dashboard).
 */
const RENDER_EVERY_MS = 500;
let lastRender = 0;
function schedule() {
  if (pending) return;
  pending = true;
  setTimeout(
    () =>
      requestAnimationFrame(() => {
        pending = false;
        lastRender = performance.now();
        render();
      }),
    Math.max(0, lastRender + RENDER_EVERY_MS - performance.now()),
  );
}

// ---- views -----------------------------------------------------------------------------------------------------

function currentView() {
  const v = location.hash.slice(1);
  return ["cluster", "actors", "job", "events"].includes(v) ? v : "actors";
}

function render() {
  const view = currentView();
  for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== `view-${view}`;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
  $("#cluster-id").textContent = state.clusterId ? `cluster ${state.clusterId}` : "";
  if (view === "cluster") renderCluster();
  if (view === "actors") renderActors();
  if (view === "job") renderJob();
  if (view === "events") renderEvents();
}

/**
 * Brings `container`'s children in line with `rows` in place: a row (found by its key) and each of its cells are
 * rewritten only when their HTML changed, so that a button under the pointer is not replaced while it is clicked.
 * A row: { key, data: {attribute: value}, className, cells: [{ html, attrs }] }.
 */
const drawn = new WeakMap();
function patch(container, rows, rowTag, cellTag) {
  const existing = new Map([...container.children].map((el) => [el.dataset.key, el]));
  let prev = null;
  for (const r of rows) {
    let el = existing.get(r.key);
    existing.delete(r.key);
    if (!el) {
      el = document.createElement(rowTag);
      el.dataset.key = r.key;
    }
    for (const [k, v] of Object.entries(r.data ?? {})) if (el.dataset[k] !== String(v)) el.dataset[k] = String(v);
    if (el.className !== (r.className ?? "")) el.className = r.className ?? "";
    while (el.children.length > r.cells.length) el.lastElementChild.remove();
    r.cells.forEach((c, i) => {
      let cell = el.children[i];
      if (!cell) cell = el.appendChild(document.createElement(cellTag));
      if (drawn.get(cell) !== c.html) {
        cell.innerHTML = c.html;
        drawn.set(cell, c.html);
      }
      for (const [k, v] of Object.entries(c.attrs ?? {})) if (cell.getAttribute(k) !== v) cell.setAttribute(k, v);
    });
    const want = prev ? prev.nextElementSibling : container.firstElementChild;
    if (want !== el) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of existing.values()) el.remove();
}

/** A control button; the click asks for confirmation first (see onClick). */
function control(action, args, label) {
  const data = Object.entries(args)
    .map(([k, v]) => `data-${k}="${esc(v)}"`)
    .join(" ");
  return `<button class="ctl" data-action="${action}" ${data}>${esc(label)}</button>`;
}

/** Supervisors first, each followed by its children (depth-first), so that the table reads as the supervision tree. */
function treeOrder(actors) {
  const byParent = new Map();
  for (const a of actors) {
    if (!byParent.has(a.supervisor)) byParent.set(a.supervisor, []);
    byParent.get(a.supervisor).push(a);
  }
  const ids = new Set(actors.map((a) => a.id));
  const out = [];
  const walk = (parent, depth) => {
    for (const a of (byParent.get(parent) ?? []).sort((x, y) => x.id.localeCompare(y.id, undefined, { numeric: true }))) {
      out.push({ a, depth });
      // a job's workers are supervised under the job's id, which the coordinator serves
      walk(a.id, depth + 1);
      if (a.id.endsWith("-coordinator")) walk(a.id.slice(0, -"-coordinator".length), depth + 1);
    }
  };
  const roots = [...byParent.keys()].filter((p) => !ids.has(p) && !ids.has(`${p}-coordinator`)).sort();
  for (const r of roots) {
    out.push({ supervisor: r, depth: 0 });
    walk(r, 1);
  }
  return out;
}

function renderActors() {
  const filter = $("#actor-filter").value.trim().toLowerCase();
  const showDead = $("#show-dead").checked;
  const rows = [];
  for (const { a, depth, supervisor } of treeOrder([...state.actors.values()])) {
    const pad = { style: `padding-left:${0.4 + depth * 1.2}em` };
    if (supervisor) {
      rows.push({
        key: `sup:${supervisor}`,
        className: "supervisor",
        cells: [{ html: `supervisor <b>${esc(supervisor)}</b>`, attrs: { ...pad, colspan: "11" } }],
      });
      continue;
    }
    const phase = state.phases.get(`worker.${a.id}`) ?? "-";
    const straggler = state.stragglers.get(a.id);
    const text = [a.id, a.state, phase, a.host, a.deathCause, coordsText(a.coords)].join(" ").toLowerCase();
    if ((!showDead && a.state === "dead") || (filter && !text.includes(filter))) continue;
    const live = a.pid != null && a.state !== "dead";
    const ctl = live
      ? control("kill", { actor: a.id, signal: "SIGKILL" }, "kill") +
        control("kill", { actor: a.id, signal: "SIGSTOP" }, "SIGSTOP") +
        control("restart", { actor: a.id }, "restart")
      : "";
    const cells = [
      { html: `<a href="#actors" data-pick-actor="${esc(a.id)}">${esc(a.id)}</a>`, attrs: pad },
      { html: esc(coordsText(a.coords)) },
      { html: esc(a.state), attrs: { class: "state" } },
      { html: `${esc(phase)}${straggler ? ` <span class="flag">straggler ${straggler.ratio.toFixed(1)}x</span>` : ""}` },
      { html: String(a.pid ?? "-") },
      { html: esc(a.host ?? "-") },
      { html: String(a.restarts) },
      { html: String(a.step) },
      { html: a.state === "dead" ? "-" : age(a.lastHeartbeat) },
      { html: esc(a.deathCause ?? ""), attrs: { class: "cause" } },
      { html: ctl },
    ];
    const className = `state-${a.state}${a.id === selectedActor ? " selected" : ""}`;
    rows.push({ key: a.id, data: { actor: a.id, state: a.state, restarts: a.restarts }, className, cells });
  }
  patch($("#actors tbody"), rows, "tr", "td");
  if (selectedActor) $("#detail-seen").textContent = `states seen here: ${(state.seen.get(selectedActor) ?? []).join(" → ")}`;
}

async function showActor(id) {
  selectedActor = id;
  $("#actor-detail").hidden = false;
  $("#detail-title").textContent = id;
  $("#detail-log").textContent = "";
  const r = await fetch(`/api/actor?id=${encodeURIComponent(id)}`);
  const d = await r.json();
  if (!r.ok) return toast(d.error);
  $("#detail-record").textContent = JSON.stringify(d.record, null, 2);
  $("#detail-lifecycle").textContent = d.lifecycle
    ? JSON.stringify({ state: d.lifecycle.value, status: d.lifecycle.status }, null, 2)
    : "(none)";
  $("#detail-history tbody").innerHTML = d.history
    .map(
      (h) =>
        `<tr><td>${new Date(h.updatedAt).toLocaleTimeString()}</td><td>${esc(h.state)}</td><td>${h.pid ?? "-"}</td><td>${esc(h.deathCause ?? "")}</td></tr>`,
    )
    .join("");
  logSource?.close();
  logSource = new EventSource(`/api/logs?id=${encodeURIComponent(id)}`);
  logSource.onmessage = (m) => {
    const pre = $("#detail-log");
    pre.textContent = (pre.textContent + readable(JSON.parse(m.data).line) + "\n").split("\n").slice(-300).join("\n");
    pre.scrollTop = pre.scrollHeight;
  };
  schedule();
}

const LEVELS = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
/** A pino JSON line as "12:01:02 INFO message {fields}" (as `troupe logs` shows it); any other line as it is. */
function readable(line) {
  if (!line.startsWith("{")) return line;
  try {
    const { time, level, msg, pid: _pid, hostname: _host, name: _name, actorId: _actor, coords: _coords, ...rest } = JSON.parse(line);
    const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
    return `${new Date(time).toLocaleTimeString()} ${LEVELS[level] ?? level} ${msg ?? ""}${fields}`;
  } catch {
    return line;
  }
}

function describe(b) {
  const d = b.dataset;
  if (d.action === "kill") return `Send ${d.signal} to ${d.actor}? Its supervisor and its job handle it as a failure.`;
  if (d.action === "restart-group") {
    const what = d.stage !== undefined ? `pipeline stage ${d.stage}` : `data-parallel replica ${d.replica}`;
    return `Restart every worker of ${what} of ${d.job}? They restart at the next step boundary and take their state from peers.`;
  }
  if (d.action === "restart")
    return `Restart ${d.actor}? A job's worker restarts at the next step boundary and takes its state from a peer.`;
  return `Stop job ${d.job}? It finishes its step and saves a checkpoint.`;
}

async function confirmAndRun(b) {
  const d = { ...b.dataset };
  const dialog = $("#confirm");
  $("#confirm-text").textContent = describe(b);
  dialog.returnValue = "";
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  if (dialog.returnValue !== "ok") return;
  const body =
    d.action === "stop"
      ? { action: "stop", job: d.job }
      : d.action === "kill"
        ? { action: "kill", actor: d.actor, signal: d.signal }
        : d.action === "restart-group"
          ? {
              action: "restart-group",
              job: d.job,
              ...(d.stage !== undefined ? { stage: Number(d.stage) } : { replica: Number(d.replica) }),
            }
          : { action: "restart", actor: d.actor };
  toast(`${d.action} ${d.actor ?? d.job}…`);
  const r = await fetch("/api/control", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const reply = await r.json();
  toast(r.ok ? `${d.action} ${d.actor ?? d.job}: done` : `${d.action} failed: ${reply.error}`);
}

function toast(text) {
  const t = $("#toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 5000);
}

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button.ctl");
  if (b) return void confirmAndRun(b);
  const actor = ev.target.closest("[data-pick-actor]");
  if (actor) return void showActor(actor.dataset.pickActor);
  const job = ev.target.closest("[data-pick-job]");
  if (job) selectedJob = job.dataset.pickJob;
});
$("#job-select").addEventListener("change", (ev) => {
  selectedJob = ev.target.value;
  schedule();
});
for (const id of ["#actor-filter", "#show-dead", "#event-filter", "#event-pause"]) $(id).addEventListener("input", schedule);
window.addEventListener("hashchange", schedule);
setInterval(schedule, 1000); // heartbeat ages move without any update
connect();
