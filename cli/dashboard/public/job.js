// The dashboard page's Job view: the summary and controls, the dp × pp × tp grid with busy times, the collectives
// table, the loss and tokens/s charts (uPlot) and the recovery bars. Shares app.js's globals (state, patch, control).
"use strict";

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
/** The charts' columns of the job drawn: appended to as points come, built again only when points were cut back. */
let cols = null;
function drawCharts(job, s) {
  // redrawn only when a point was added or replaced (the charts are the page's costliest part)
  if (!cols || cols.job !== job || cols.points !== s.points)
    cols = { job, points: s.points, n: 0, valN: -1, steps: [], loss: [], val: [], tps: [] };
  if (s.cut !== undefined) {
    cols.n = Math.min(cols.n, s.cut);
    for (const c of [cols.steps, cols.loss, cols.val, cols.tps]) c.length = cols.n;
    s.cut = undefined;
  } else if (cols.n === s.points.length && cols.valN === s.val.length) return;
  if (cols.valN !== s.val.length) {
    cols.valAt = new Map(s.val.map((v) => [v.step, v.loss]));
    cols.val = cols.steps.map((step) => cols.valAt.get(step) ?? null);
    cols.valN = s.val.length;
  }
  for (let k = cols.n; k < s.points.length; k++) {
    const p = s.points[k];
    cols.steps.push(p.step);
    cols.loss.push(p.loss);
    cols.val.push(cols.valAt.get(p.step) ?? null);
    cols.tps.push(p.tps);
  }
  cols.n = s.points.length;
  chart(
    "loss",
    job,
    [cols.steps, cols.loss, cols.val],
    [
      { label: "loss", stroke: "#1f77b4" },
      { label: "validation", stroke: "#d62728", points: { show: true, size: 6 }, spanGaps: true },
    ],
  );
  chart("tps", job, [cols.steps, cols.tps], [{ label: "tokens/s", stroke: "#2ca02c" }]);
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
