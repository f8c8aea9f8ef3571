// The dashboard page's Cluster view (nats-servers, hosts with their warm spares, jobs, actors by state) and Events
// view. Shares app.js's globals (state, patch, control).
"use strict";

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
