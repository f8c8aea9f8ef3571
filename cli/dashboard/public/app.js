// The troupe dashboard page: a snapshot of the cluster from /api/stream, then its updates, drawn into four views
// (cluster, actors, job, events). No framework: each view is redrawn from `state` at most once per animation frame.
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
      while (s.points.length && s.points[s.points.length - 1].step >= u.p.step) s.points.pop();
      s.points.push(u.p);
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

function renderCluster() {
  const n = state.nats;
  const health = !n
    ? "not checked yet"
    : n.error
      ? `nats-server ${n.url}: not answering (${n.error})`
      : `nats-server ${n.url}: version ${n.version}, JetStream ${n.jetstream ? "on" : "off"}, round trip ${n.rttMs.toFixed(1)} ms (checked ${age(n.at)} ago)`;
  const el = $("#nats-health");
  el.textContent = health;
  el.dataset.state = !n ? "unknown" : n.error ? "down" : "up";
  $("#hosts tbody").innerHTML = [...state.hosts.values()]
    .map(
      (h) =>
        `<tr data-host="${esc(h.name)}"><td>${esc(h.name)}</td><td>${h.slots}</td><td>${esc(h.tier)}</td><td>${h.pid}</td><td>${esc(h.running.join(", ") || "-")}</td>${sparesCell(h)}<td>${age(h.lastSeen)}</td></tr>`,
    )
    .join("");
  renderServers();
  const jobRows = [...state.jobs.values()].map((j) => {
    const last = series(j.id).points.at(-1);
    const live = j.state === "running" || j.state === "submitted";
    const cells = [
      `<a href="#job" data-pick-job="${esc(j.id)}">${esc(j.id)}</a>`,
      `${j.layout.dp}×${j.layout.pp}×${j.layout.tp}`,
      esc(j.state),
      esc(state.phases.get(`job.${j.id}`) ?? "-"),
      String(last?.step ?? "-"),
      last ? last.loss.toFixed(3) : "-",
      String(j.coordinatorStarts),
      live ? control("stop", { job: j.id }, "stop") : "",
    ];
    return { key: j.id, data: { job: j.id, state: j.state }, cells: cells.map((html) => ({ html })) };
  });
  patch($("#jobs tbody"), jobRows, "tr", "td");
  const counts = {};
  for (const a of state.actors.values()) counts[a.state] = (counts[a.state] ?? 0) + 1;
  $("#actor-counts").textContent =
    Object.entries(counts)
      .map(([k, v]) => `${k}: ${v}`)
      .join(" · ") || "no actors";
}

/** A host's warm spares: started and waiting / command lines it keeps one for, with their pids. */
function sparesCell(h) {
  if (!h.spares) return `<td class="spares">-</td>`;
  const { ready, target, pids } = h.spares;
  const title = pids.length ? `pids ${pids.join(", ")}` : "none started";
  return `<td class="spares" data-spares-ready="${ready}" data-spares-target="${target}" title="${title}">${ready} / ${target}</td>`;
}

/** Each nats-server of the cluster: up or down, name, version, JetStream, round trip; the dashboard's own marked. */
function renderServers() {
  const rows = state.servers.map((s) => {
    const cells = [
      `${esc(s.address)}${s.connected ? " (this dashboard's)" : ""}`,
      s.up ? "up" : `down: ${esc(s.error ?? "")}`,
      esc(s.name ?? "-"),
      esc(s.version ?? "-"),
      s.jetstream == null ? "-" : s.jetstream ? "on" : "off",
      s.rttMs == null ? "-" : `${s.rttMs.toFixed(1)} ms`,
      age(s.at),
    ];
    return { key: s.address, data: { server: s.address, state: s.up ? "up" : "down" }, cells: cells.map((html) => ({ html })) };
  });
  patch($("#nats-servers tbody"), rows, "tr", "td");
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

function renderJob() {
  const jobs = [...state.jobs.values()];
  if (!selectedJob || !state.jobs.has(selectedJob)) selectedJob = (jobs.find((j) => j.state === "running") ?? jobs.at(-1))?.id ?? null;
  const sel = $("#job-select");
  const options = jobs.map((j) => `<option ${j.id === selectedJob ? "selected" : ""}>${esc(j.id)}</option>`).join("");
  if (sel.innerHTML !== options) sel.innerHTML = options;
  if (!selectedJob) return;
  const j = state.jobs.get(selectedJob);
  const s = series(j.id);
  const last = s.points.at(-1);
  $("#job-summary").textContent =
    `${j.state} · ${state.phases.get(`job.${j.id}`) ?? "-"} · step ${last?.step ?? "-"} · loss ${last ? last.loss.toFixed(3) : "-"} · ${last ? Math.round(last.tps) : "-"} tokens/s · ${flopsText(last?.flops)}`;
  const groups = [
    ...Array.from({ length: j.layout.pp }, (_, p) => control("restart-group", { job: j.id, stage: p }, `restart stage ${p}`)),
    ...Array.from({ length: j.layout.dp }, (_, d) => control("restart-group", { job: j.id, replica: d }, `restart replica ${d}`)),
  ];
  const controls = j.state === "running" ? control("stop", { job: j.id }, "stop job (checkpoint)") + " " + groups.join("") : "";
  if (drawn.get($("#job-controls")) !== controls) {
    $("#job-controls").innerHTML = controls;
    drawn.set($("#job-controls"), controls);
  }
  renderGrid(j);
  renderCollectives(j);
  drawCharts(j.id, s);
  renderRecoveries(j.id);
}

/** Model FLOP/s with an SI prefix (1.23 GFLOP/s). */
function flopsText(f) {
  if (f == null) return "- model FLOP/s";
  const k = Math.min(5, Math.max(0, Math.floor(Math.log10(Math.max(f, 1)) / 3)));
  return `${(f / 10 ** (3 * k)).toFixed(2)} ${["", "k", "M", "G", "T", "P"][k]}model FLOP/s`;
}

function renderGrid(j) {
  const workers = [...state.actors.values()].filter((a) => a.supervisor === j.id && a.coords && "d" in a.coords);
  const replicas = [];
  for (let d = 0; d < j.layout.dp; d++) {
    replicas.push({
      key: `${j.id}:${d}`,
      className: "replica",
      cells: [
        { html: `dp ${d}`, attrs: { class: "rlabel" } },
        { html: "", attrs: { class: "cells", style: `grid-template-columns:repeat(${j.layout.tp},auto)` } },
      ],
    });
  }
  patch($("#grid"), replicas, "div", "div");
  [...$("#grid").children].forEach((el, d) => {
    const mine = workers.filter((w) => w.coords.d === d).sort((x, y) => x.coords.p - y.coords.p || x.coords.t - y.coords.t);
    patch(
      el.children[1],
      mine.map((a) => gridCell(j, a)),
      "div",
      "div",
    );
  });
}

function gridCell(j, a) {
  const phase = state.phases.get(`worker.${a.id}`) ?? "-";
  const colour = a.state === "alive" ? `phase-${phase.split(/[.|]/)[0]}` : `state-${a.state}`;
  const info = `<b>${esc(a.id.slice(j.id.length + 1))}</b><br>pp${a.coords.p} tp${a.coords.t}<br>${esc(a.state === "alive" ? phase : a.state)}${busyBar(j, a)}`;
  return {
    key: a.id,
    data: { worker: a.id, state: a.state },
    className: `cell ${colour}${state.stragglers.has(a.id) ? " straggler" : ""}`,
    cells: [
      { html: info },
      { html: a.pid != null && a.state !== "dead" ? control("kill", { actor: a.id, signal: "SIGKILL" }, "kill") : "" },
    ],
  };
}

/** The worker's busy time in the job's last committed step, as ms and a bar against the busiest worker's. */
function busyBar(j, a) {
  const b = state.busy.get(j.id);
  const s = b?.seconds[a.id];
  if (s == null) return "";
  const most = Math.max(...Object.values(b.seconds));
  const width = most > 0 ? Math.round((100 * s) / most) : 0;
  return `<div class="busy" data-busy-ms="${(s * 1000).toFixed(1)}" title="busy time in step ${b.step} (wall time minus time blocked in collectives)">busy ${(s * 1000).toFixed(1)} ms<span class="busy-bar" style="width:${width}%"></span></div>`;
}

/** Bytes in kB, MB or GB (SI). */
const bytesText = (b) => {
  const k = Math.min(3, Math.max(1, Math.floor(Math.log10(Math.max(b, 1)) / 3)));
  return `${(b / 10 ** (3 * k)).toFixed(1)} ${["", "kB", "MB", "GB"][k]}`;
};

/** Each worker's collective traffic and time: in the last committed step, and over the job so far. */
function renderCollectives(j) {
  const c = state.collectives.get(j.id);
  const rows = Object.keys(c?.total ?? {})
    .sort()
    .map((w) => {
      const l = c.last[w] ?? { sentBytes: 0, receivedBytes: 0, seconds: 0 };
      const t = c.total[w];
      const cells = [
        esc(w),
        `${bytesText(l.sentBytes)} / ${bytesText(l.receivedBytes)}`,
        `${(l.seconds * 1000).toFixed(1)} ms`,
        `${bytesText(t.sentBytes)} / ${bytesText(t.receivedBytes)}`,
        `${t.seconds.toFixed(1)} s`,
      ];
      const data = {
        worker: w,
        step: c.step,
        sentBytes: l.sentBytes,
        receivedBytes: l.receivedBytes,
        totalBytes: t.sentBytes + t.receivedBytes,
      };
      return { key: w, data, cells: cells.map((html) => ({ html })) };
    });
  patch($("#collectives tbody"), rows, "tr", "td");
}

const charts = {};
const chartsDrawn = { job: null, points: -1, last: null, val: -1 };
function drawCharts(job, s) {
  // redrawn only when a point was added or replaced (the charts are the page's costliest part)
  const last = s.points.at(-1) ?? null;
  if (chartsDrawn.job === job && chartsDrawn.points === s.points.length && chartsDrawn.last === last && chartsDrawn.val === s.val.length)
    return;
  Object.assign(chartsDrawn, { job, points: s.points.length, last, val: s.val.length });
  const steps = s.points.map((p) => p.step);
  const valAt = new Map(s.val.map((v) => [v.step, v.loss]));
  const lossData = [steps, s.points.map((p) => p.loss), s.points.map((p) => valAt.get(p.step) ?? null)];
  const tpsData = [steps, s.points.map((p) => p.tps)];
  chart("loss", job, lossData, [
    { label: "loss", stroke: "#1f77b4" },
    { label: "validation", stroke: "#d62728", points: { show: true, size: 6 }, spanGaps: true },
  ]);
  chart("tps", job, tpsData, [{ label: "tokens/s", stroke: "#2ca02c" }]);
}

function chart(name, job, data, lines) {
  const el = $(`#chart-${name}`);
  el.dataset.points = String(data[0].length);
  const c = charts[name];
  if (c && c.job === job) return c.plot.setData(data);
  c?.plot.destroy();
  const opts = {
    width: Math.max(320, el.clientWidth || 560),
    height: 220,
    scales: { x: { time: false } },
    series: [{ label: "step" }, ...lines],
  };
  charts[name] = { job, plot: new uPlot(opts, data, el) };
}

function renderRecoveries(job) {
  setHtml(
    $("#legend"),
    Object.entries(PHASE_COLOURS)
      .map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`)
      .join(" "),
  );
  const bars = state.recoveries
    .filter((b) => b.job === job)
    .slice(-20)
    .reverse();
  const longest = Math.max(1, ...bars.map((b) => (b.ends.rerun - b.start) / 1000));
  setHtml(
    $("#recoveries"),
    bars.length
      ? bars
          .map((b) => {
            let from = b.start;
            const parts = Object.keys(PHASE_COLOURS).map((k) => {
              const to = b.ends[k];
              const secs = (to - from) / 1000;
              from = to;
              return `<div class="seg" style="width:${(100 * secs) / longest}%;background:${PHASE_COLOURS[k]}" title="${k} ${secs.toFixed(2)} s"></div>`;
            });
            return `<div class="recovery-bar" data-actor="${esc(b.actor)}"><div class="rlabel">${new Date(b.start).toLocaleTimeString()} <b>${esc(b.actor)}</b> ${esc(b.cause)} → ${esc(b.source)} ${esc(b.from)}: ${b.seconds.toFixed(2)} s</div><div class="track">${parts.join("")}</div></div>`;
          })
          .join("")
      : "<p>no recoveries</p>",
  );
}

/** Sets an element's HTML only when it changed (a rewrite costs a layout). */
function setHtml(el, html) {
  if (drawn.get(el) === html) return;
  el.innerHTML = html;
  drawn.set(el, html);
}

function renderEvents() {
  if ($("#event-pause").checked) return;
  const filter = $("#event-filter").value.trim().toLowerCase();
  const rows = [];
  for (let k = state.events.length - 1; k >= 0 && rows.length < 400; k--) {
    const e = state.events[k];
    const data = Object.entries(e.data)
      .filter(([, v]) => v != null)
      .map(([k2, v]) => `${k2}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    if (filter && !`${e.type} ${e.subject} ${data}`.toLowerCase().includes(filter)) continue;
    rows.push(
      `<tr data-type="${esc(e.type)}" data-subject="${esc(e.subject)}"><td>${new Date(e.time).toLocaleTimeString()}</td><td>${e.seq}</td><td>${esc(e.type)}</td><td>${esc(e.subject)}</td><td>${esc(data)}</td></tr>`,
    );
  }
  $("#events tbody").innerHTML = rows.join("");
}

// ---- controls --------------------------------------------------------------------------------------------------

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
