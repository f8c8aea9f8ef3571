// The dashboard's HTTP server (node:http): the page and its assets, a server-sent event stream of the cluster view
// (one set of NATS watches for every open page), an actor's detail and live log tail, the controls, and /metrics.
// Everything needs a session cookie or the cluster's token (auth.ts).
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import path from "node:path";
import { LifecycleStore } from "../../runtime/lifecycle-recorder.ts";
import { packageRoot } from "../../runtime/paths.ts";
import type { OpenCluster } from "../cluster/cluster-options.ts";
import type { DashboardAuth } from "./auth.ts";
import type { ClusterView, ViewUpdate } from "./cluster-view.ts";
import { ControlRequestError, runControl } from "./controls.ts";
import type { DashboardMetrics } from "./metrics.ts";

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "cli/dashboard/public/index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "cli/dashboard/public/app.js", type: "text/javascript; charset=utf-8" },
  "/cluster.js": { file: "cli/dashboard/public/cluster.js", type: "text/javascript; charset=utf-8" },
  "/job.js": { file: "cli/dashboard/public/job.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "cli/dashboard/public/app.css", type: "text/css; charset=utf-8" },
  "/vendor/uplot.js": { file: "node_modules/uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "/vendor/uplot.css": { file: "node_modules/uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
};
const KEEPALIVE_MS = 15_000;
const BATCH_MS = 250;

export interface DashboardParts {
  cluster: OpenCluster;
  view: ClusterView;
  auth: DashboardAuth;
  metrics: DashboardMetrics;
}

export function dashboardServer(parts: DashboardParts): Server {
  return createServer((req, res) => {
    route(parts, req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, err instanceof ControlRequestError ? 400 : 500, { error: err.message });
      else res.end();
    });
  });
}

async function route(p: DashboardParts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://dashboard");
  const code = url.searchParams.get("code");
  if (req.method === "GET" && code !== null) {
    if (!p.auth.redeemCode(code, res)) return unauthorized(req, res, "this code is unknown or was used already");
    res.writeHead(303, { Location: url.pathname }).end();
    return;
  }
  if (req.method === "POST" && url.pathname === "/login") {
    const token = new URLSearchParams(await body(req)).get("token") ?? "";
    if (!p.auth.redeemToken(token, res)) return unauthorized(req, res, "wrong token");
    res.writeHead(303, { Location: "/" }).end();
    return;
  }
  if (!p.auth.allowed(req)) return unauthorized(req, res, "sign in with the URL `troupe dashboard` printed, or the cluster's token");
  const asset = req.method === "GET" ? ASSETS[url.pathname] : undefined;
  if (asset) {
    res
      .writeHead(200, { "Content-Type": asset.type, "Cache-Control": "no-cache" })
      .end(await readFile(path.join(packageRoot(), asset.file)));
    return;
  }
  const id = url.searchParams.get("id") ?? "";
  if (req.method === "GET" && url.pathname === "/api/stream") return stream(p, req, res);
  if (req.method === "GET" && url.pathname === "/api/actor") return send(res, 200, await actorDetail(p, id));
  if (req.method === "GET" && url.pathname === "/api/logs") return logTail(p, id, req, res);
  if (req.method === "GET" && url.pathname === "/metrics") {
    res.writeHead(200, { "Content-Type": p.metrics.registry.contentType }).end(await p.metrics.registry.metrics());
    return;
  }
  if (req.method === "POST" && url.pathname === "/api/control") {
    if (!p.auth.controlsAllowed)
      return send(res, 403, { error: `the controls need the operator's credential; this dashboard runs as '${p.auth.role}'` });
    // a JSON body: a cross-site form cannot send one without the browser asking first (and the cookie is SameSite)
    if (!req.headers["content-type"]?.startsWith("application/json")) return send(res, 415, { error: "send application/json" });
    let parsed: unknown;
    try {
      parsed = JSON.parse(await body(req));
    } catch {
      return send(res, 400, { error: "the body is not JSON" });
    }
    return send(res, 200, await runControl(p.cluster, parsed));
  }
  send(res, 404, { error: `no ${req.method} ${url.pathname}` });
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(value));
}

function unauthorized(req: IncomingMessage, res: ServerResponse, why: string): void {
  if (!req.headers.accept?.includes("text/html")) return send(res, 401, { error: why });
  res.writeHead(401, { "Content-Type": "text/html; charset=utf-8", "WWW-Authenticate": 'Bearer realm="troupe"' }).end(
    `<!doctype html><title>troupe dashboard</title><body style="font-family:sans-serif;margin:3em">
<h1>troupe dashboard</h1><p>${why.replaceAll("<", "&lt;")}.</p>
<form method="post" action="/login"><label>Cluster token (the file that <code>tokenFile</code> in the cluster directory's <code>cluster.json</code> names):
<input type="password" name="token" autocomplete="off"></label> <button>Sign in</button></form></body>`,
  );
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new ControlRequestError("request body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function openSse(req: IncomingMessage, res: ServerResponse): (data: unknown) => void {
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" });
  const timer = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  req.once("close", () => clearInterval(timer));
  return (data) => res.write(`data: ${JSON.stringify(data)}\n\n`);
}

/**
 * The view's snapshot, then each update; updates are sent in batches, at most one write per BATCH_MS per page (the
 * page redraws at most twice a second: a write per step would only cost both ends a parse and a wake-up).
 */
function stream(p: DashboardParts, req: IncomingMessage, res: ServerResponse): void {
  const write = openSse(req, res);
  write({ t: "snapshot", ...p.view.snapshot() });
  // a record (in one state), host or phase written many times within a batch is sent once, as it is last, in the
  // place of its last write: each change of an actor's state still reaches the page
  let batch = new Map<string, ViewUpdate>();
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  const unsubscribe = p.view.subscribe((u) => {
    const key = latestKey(u) ?? String(n++);
    batch.delete(key);
    batch.set(key, u);
    timer ??= setTimeout(() => {
      timer = undefined;
      write({ t: "batch", updates: [...batch.values()] });
      batch = new Map();
    }, BATCH_MS);
  });
  req.once("close", () => {
    unsubscribe();
    clearTimeout(timer);
  });
}

function latestKey(u: ViewUpdate): string | undefined {
  if (u.t === "actor") return `a:${u.rec.id}:${u.rec.state}`;
  if (u.t === "host") return `h:${u.rec.name}`;
  if (u.t === "phase") return `p:${u.kind}.${u.id}`;
  if (u.t === "job") return `j:${u.rec.id}`;
  if (u.t === "nats") return "nats";
  if (u.t === "natsServers") return "natsServers";
  if (u.t === "busy") return `b:${u.job}`;
  if (u.t === "collective") return `c:${u.job}`;
  return undefined;
}

async function actorDetail(p: DashboardParts, id: string): Promise<unknown> {
  const { registry } = p.cluster;
  const record = await registry.getActor(id);
  if (!record) throw new ControlRequestError(`no actor '${id}'`);
  // the record is written at every heartbeat: its history is shown as its changes of state or process
  const history = (await registry.actorHistory(id))
    .filter((r, k, all) => k === 0 || r.state !== all[k - 1]!.state || r.pid !== all[k - 1]!.pid)
    .map((r) => ({ state: r.state, pid: r.pid, host: r.host, restarts: r.restarts, deathCause: r.deathCause, updatedAt: r.updatedAt }));
  const lifecycle = await (await LifecycleStore.open(p.cluster.nc, p.cluster.ns)).get("worker", id);
  const events = p.view.events.filter((e) => e.subject === id || e.data.actorId === id || e.data.child === id).slice(-100);
  return { record, history, lifecycle, events };
}

/** The actor's last log lines, then new ones as its agent captures them (a consumer of its own, closed with the page). */
function logTail(p: DashboardParts, id: string, req: IncomingMessage, res: ServerResponse): void {
  const write = openSse(req, res);
  const ctl = new AbortController();
  req.once("close", () => ctl.abort());
  p.cluster.events
    .readLogs(id, { follow: true, last: 5000, signal: ctl.signal }, (line) => write({ line }))
    .catch((err: Error) => write({ line: `(log tail ended: ${err.message})` }));
}
