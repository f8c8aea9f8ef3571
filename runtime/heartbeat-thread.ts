// Heartbeats from a thread of their own, so that an actor whose main thread is busy with long synchronous work
// (a worker loading its corpus and building its model: a second of CPU, over ten seconds on a machine loaded
// well past its cores) still shows it is alive. The main thread shares its step, epoch and the time its event
// loop last turned; a main loop stalled longer than `stallMs` stops the beats, so a main thread stuck for good is
// still found by silence. A frozen process (SIGSTOP) stops this thread too: silence, as before.
// The thread must be up within moments even on a starved machine: it is plain JavaScript (tsx cannot load
// TypeScript in a worker_thread on Node 20) with no NATS client library, only a socket speaking the few lines of
// the NATS protocol a publisher needs (CONNECT, PUB, PING/PONG), and msgpackr to encode as runtime/codec.ts does.
// It dials the cluster's servers in turn (a server lost for good is left for the next), and upgrades to TLS
// with the cluster CA when the server requires it.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Float64 slots of the shared state. */
export const LOOP_AT = 0;
export const STEP = 1;
export const EPOCH = 2;
const SLOTS = 3;

export interface HeartbeatThreadOptions {
  shared: Float64Array;
  /** nats://host:port of the cluster's server, or several joined with commas. */
  natsUrl: string;
  /** The cluster CA, for a server that requires TLS (without it such a server fails the thread: the main thread beats). */
  caFile?: string;
  /** A token, or a role's `<user>:<password>` (nats-roles.ts). */
  token?: string;
  actorId: string;
  subject: string;
  heartbeatMs: number;
  /** A main event loop that has not turned for longer than this is taken as hung: the beats stop. */
  stallMs: number;
}

export function sharedHeartbeatState(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(SLOTS * Float64Array.BYTES_PER_ELEMENT));
}

const THREAD_SOURCE = `
const net = require("node:net");
const { parentPort, workerData: d } = require("node:worker_threads");
const { Packr } = require(d.msgpackr);
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
const shared = new Float64Array(d.shared);
const urls = d.natsUrl.split(",").map((u) => u.trim()).filter((u) => u).map((u) => new URL(u.includes("://") ? u : "nats://" + u));
const ca = d.caFile ? require("node:fs").readFileSync(d.caFile) : undefined;
let turn = 0;
let url = urls[0];
let socket;
let ready = false;
let beating = false;
let pending = "";
const fail = (why) => {
  parentPort.postMessage({ op: "failed", why });
  process.exit(1);
};
const beat = () => {
  const now = Date.now();
  if (!ready || now - shared[${LOOP_AT}] > d.stallMs) return;
  const payload = packr.pack({ actorId: d.actorId, pid: process.pid, step: shared[${STEP}], epoch: shared[${EPOCH}], time: now });
  socket.write(Buffer.concat([Buffer.from("PUB " + d.subject + " " + payload.length + "\\r\\n"), payload, Buffer.from("\\r\\n")]));
  if (!beating) parentPort.postMessage({ op: "beating" });
  beating = true;
};
const sendConnect = () => {
  const connect = { verbose: false, pedantic: false, name: d.actorId + "-heartbeat", lang: "troupe-heartbeat", version: "1", protocol: 0 };
  // a role's secret "<user>:<password>" (nats-roles.ts), else a token
  const colon = (d.token || "").indexOf(":");
  if (colon > 0) Object.assign(connect, { user: d.token.slice(0, colon), pass: d.token.slice(colon + 1) });
  else if (d.token) connect.auth_token = d.token;
  socket.write("CONNECT " + JSON.stringify(connect) + "\\r\\nPING\\r\\n");
};
const onLine = (line) => {
  if (line.startsWith("INFO ")) {
    const info = JSON.parse(line.slice(5));
    if (!info.tls_required) return sendConnect();
    if (!ca) fail("the server requires TLS");
    upgrade();
  } else if (line === "PING") socket.write("PONG\\r\\n");
  else if (line === "PONG" && !ready) {
    ready = true;
    beat();
  } else if (line.startsWith("-ERR")) {
    if (/authoriz|authent/i.test(line)) fail("refused by the server: " + line);
    socket.destroy();
  }
};
const onData = (chunk) => {
  pending += chunk.toString("latin1");
  for (let at = pending.indexOf("\\r\\n"); at >= 0; at = pending.indexOf("\\r\\n")) {
    const line = pending.slice(0, at);
    pending = pending.slice(at + 2);
    onLine(line);
  }
};
const watch = (s) => {
  s.on("data", onData);
  s.on("error", () => undefined);
  // the server restarted or the link dropped: dial again, the next server of the cluster, like the main connection
  s.on("close", () => {
    if (s !== socket) return;
    ready = false;
    turn++;
    setTimeout(connect, 250);
  });
};
// the server sends INFO in the clear, then the client starts TLS on the same socket (names checked as the URL has them)
const upgrade = () => {
  const plain = socket;
  plain.removeAllListeners("data");
  pending = "";
  const servername = require("node:net").isIP(url.hostname) ? undefined : url.hostname;
  socket = require("node:tls").connect({ socket: plain, ca, servername, host: url.hostname.replace(/^\\[|\\]$/g, "") }, sendConnect);
  watch(socket);
};
const connect = () => {
  ready = false;
  pending = "";
  url = urls[turn % urls.length];
  socket = net.connect(Number(url.port || 4222), url.hostname.replace(/^\\[|\\]$/g, ""));
  socket.setNoDelay(true);
  watch(socket);
};
connect();
setInterval(beat, d.heartbeatMs);
`;

/** Starts the thread; it posts { op: "beating" } after its first beat, { op: "failed", why } before giving up. */
export function startHeartbeatThread(o: HeartbeatThreadOptions): Worker {
  const msgpackr = createRequire(import.meta.url).resolve("msgpackr");
  const { shared, ...rest } = o;
  // no preloads (tsx) in the thread: it starts in a few milliseconds of CPU
  return new Worker(THREAD_SOURCE, { eval: true, execArgv: [], workerData: { ...rest, shared: shared.buffer, msgpackr } });
}
