// Hosts for real on one machine: a bridge and N network namespaces joined by veth pairs, with a troupe cluster on
// them (`troupe up --listen` in host 1 with 0 slots, a host agent in each other namespace; with `natsOnEveryHost`, a
// nats-server in every namespace too, routed to the others: a NATS cluster spread over the hosts). Every command that talks
// to a 10.x address runs inside a namespace: nothing in the root namespace reaches the bridge. A host is lost for
// real (every process of its namespace SIGKILLed, its link taken down) and cut off for real (link down, then up).
// Names carry a random suffix; `remove` kills every process left in the namespaces and deletes them. Needs root.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { deadline, pollUntil } from "../../runtime/async.ts";

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
export const bin = path.join(repo, "bin/troupe.js");
const probeScript = path.join(import.meta.dirname, "fixtures", "jetstream-probe.mjs");

export interface Host {
  /** 1-based; the troupe host name is `host<n>`. */
  n: number;
  name: string;
  ns: string;
  /** The host end of the veth pair (in the root namespace, on the bridge): down = the host is cut off. */
  veth: string;
  addr: string;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Why network namespaces cannot be used here, or undefined when they can (root, and a namespace can be made). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const probe = `trprobe${randomBytes(3).toString("hex")}`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (r.status !== 0) return `ip netns is not possible here: ${(r.stderr || r.error?.message || "").trim()}`;
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

export class Netns {
  readonly hosts: Host[];
  private readonly bridge: string;

  constructor(count: number) {
    const sfx = randomBytes(3).toString("hex");
    const net = `10.${randomInt(20, 250)}.${randomInt(0, 250)}`;
    this.bridge = `trb${sfx}`;
    this.hosts = Array.from({ length: count }, (_, i) => ({
      n: i + 1,
      name: `host${i + 1}`,
      ns: `tr${sfx}-${i + 1}`,
      veth: `trv${sfx}${i + 1}`,
      addr: `${net}.${i + 1}`,
    }));
  }

  host(n: number): Host {
    return this.hosts[n - 1]!;
  }

  create(): void {
    ip("link", "add", this.bridge, "type", "bridge");
    ip("link", "set", this.bridge, "up");
    for (const s of this.hosts) {
      ip("netns", "add", s.ns);
      ip("link", "add", s.veth, "type", "veth", "peer", "name", "eth0", "netns", s.ns);
      ip("link", "set", s.veth, "master", this.bridge, "up");
      ip("-n", s.ns, "addr", "add", `${s.addr}/24`, "dev", "eth0");
      ip("-n", s.ns, "link", "set", "eth0", "up");
      ip("-n", s.ns, "link", "set", "lo", "up");
    }
  }

  /** Kills whatever still runs in the namespaces (all started by this test), then deletes them and the bridge. */
  remove(): void {
    for (const s of this.hosts) this.killAll(s);
    for (const s of this.hosts) {
      spawnSync("ip", ["link", "del", s.veth]);
      spawnSync("ip", ["netns", "del", s.ns]);
    }
    spawnSync("ip", ["link", "del", this.bridge]);
  }

  /** The pids of every process in the host's namespace. */
  pids(h: Host): number[] {
    const r = spawnSync("ip", ["netns", "pids", h.ns], { encoding: "utf8" });
    return (r.stdout ?? "")
      .split(/\s+/)
      .filter((x) => /^\d+$/.test(x))
      .map(Number);
  }

  /** SIGKILL to every process of the host (what a machine losing power does to them); answers how many. */
  killAll(h: Host): number {
    const pids = this.pids(h);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    return pids.length;
  }

  /** The host's cable pulled (down) or plugged back (up): its veth end on the bridge. */
  link(h: Host, state: "up" | "down"): void {
    ip("link", "set", h.veth, state);
  }

  /** `argv` in the host's namespace; undefined runs it here (loopback only). Never rejects. */
  async run(h: Host | undefined, argv: string[], timeoutMs = 150_000): Promise<Run> {
    try {
      const r = h
        ? await exec("ip", ["netns", "exec", h.ns, ...argv], { cwd: repo, timeout: timeoutMs, maxBuffer: 64 << 20 })
        : await exec(argv[0]!, argv.slice(1), { cwd: repo, timeout: timeoutMs, maxBuffer: 64 << 20 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number | string; stdout?: string; stderr?: string };
      return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
    }
  }

  /** A long-running `argv` in the host's namespace; its output ignored, piped, or written to a file descriptor. */
  spawn(h: Host, argv: string[], stdio: "ignore" | "pipe" | number = "ignore"): ChildProcess {
    return spawn("ip", ["netns", "exec", h.ns, ...argv], { cwd: repo, stdio: ["ignore", stdio, stdio] });
  }
}

/** A stream as fixtures/jetstream-probe.mjs `info` reports it: its replicas, leader and the other peers. */
export interface StreamPlacement {
  name: string;
  replicas: number;
  leader: string | undefined;
  peers: { name: string; current: boolean; offline: boolean; lag: number }[];
}

/** What fixtures/jetstream-probe.mjs `write` read back and the acknowledgements it got. */
export interface ProbeWrite {
  kv: string;
  kvRevision: number;
  logSeq: number;
}

export interface NetClusterOptions {
  /**
   * A nats-server on every host, routed to the others, each with its own JetStream store (`troupe up --listen H1
   * --routes H2,…` on host 1, `troupe nats-server` on the others, one cluster directory as on a shared filesystem);
   * every client gets all their URLs. `up` returns once every stream can be placed on min(3, hosts) servers.
   */
  natsOnEveryHost?: boolean;
}

/**
 * A troupe cluster on the namespaces: `troupe up --listen` on host 1 with 0 slots (nats-server, services, the
 * coordinators), and a host agent with `slots` worker slots on every other host.
 */
export class NetCluster {
  url = "";
  readonly agents = new Map<number, ChildProcess>();
  /** With natsOnEveryHost: `troupe nats-server` of hosts 2…N (host 1's server is `troupe up`'s). */
  readonly natsServers = new Map<number, ChildProcess>();

  constructor(
    readonly net: Netns,
    readonly dir: string,
    private readonly slots: number,
    private readonly opts: NetClusterOptions = {},
  ) {}

  get head(): Host {
    return this.net.host(1);
  }

  /** `troupe ARGS` on host `h` (undefined: here, on loopback). */
  troupe(h: Host | undefined, ...args: string[]): Promise<Run> {
    return this.net.run(h, [process.execPath, bin, ...args]);
  }

  async up(): Promise<void> {
    if (this.opts.natsOnEveryHost) {
      await this.upNatsCluster();
    } else {
      const h = this.head;
      const up = await this.troupe(h, "up", "--listen", h.addr, "--slots", "0", "--name", h.name, "--cluster", this.dir, "--json");
      if (up.code !== 0 || up.stderr !== "") throw new Error(`troupe up failed (${up.code}): ${up.stderr}`);
      this.url = (JSON.parse(up.stdout) as { url: string }).url;
    }
    for (const w of this.net.hosts.slice(1)) this.startAgent(w);
    await Promise.all([this.waitHosts(this.net.hosts.length), this.opts.natsOnEveryHost ? this.waitReplicas() : undefined]);
  }

  /**
   * `troupe up --routes` on host 1 (it waits for the other servers), `troupe nats-server` on the other hosts once
   * it waits (up returns once JetStream can place streams on min(3, hosts) servers).
   */
  private async upNatsCluster(): Promise<void> {
    const [h, ...others] = this.net.hosts;
    const routes = others.map((o) => o.addr).join(",");
    const argv = [process.execPath, bin, "up", "--listen", h!.addr, "--routes", routes, "--slots", "0", "--name", h!.name];
    const up = this.net.spawn(h!, [...argv, "--cluster", this.dir, "--json"], "pipe");
    let stdout = "";
    let stderr = "";
    up.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    up.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => up.once("exit", (code) => resolve(code)));
    await pollUntil(() => (/waiting for the other nats-servers/.test(stderr) || up.exitCode !== null ? true : undefined), {
      what: "troupe up waiting for the other nats-servers",
      timeoutMs: 60_000,
      everyMs: 100,
    });
    for (const o of others) this.startNatsServer(o);
    const code = await deadline(exited, 180_000, "troupe up --routes").catch((err: Error) => err.message);
    if (code !== 0) {
      up.kill("SIGKILL");
      throw new Error(`troupe up --routes failed (${code}): ${stderr}`);
    }
    this.url = (JSON.parse(stdout) as { url: string }).url;
  }

  /** Until JetStream has placed the actor records' stream on min(3, hosts) servers, all current (natsOnEveryHost). */
  private async waitReplicas(): Promise<void> {
    const replicas = Math.min(3, this.net.hosts.length);
    await pollUntil(
      async () => {
        const actors = (await this.streams()).find((s) => s.name.endsWith("_actors"));
        return actors?.replicas === replicas && actors.peers.length === replicas - 1 && actors.peers.every((p) => p.current)
          ? true
          : undefined;
      },
      { what: `the actor records' stream on ${replicas} servers, all current`, timeoutMs: 60_000, everyMs: 500 },
    );
  }

  /** `troupe nats-server` of host `h` (natsOnEveryHost), routed to every other host; its log goes to natsLog(h). */
  private startNatsServer(h: Host): void {
    const routes = this.net.hosts.filter((o) => o !== h).map((o) => o.addr);
    const argv = [process.execPath, bin, "nats-server", "--cluster", this.dir, "--listen", h.addr, "--routes", routes.join(",")];
    const fd = openSync(this.natsLog(h), "a");
    try {
      this.natsServers.set(h.n, this.net.spawn(h, argv, fd));
    } finally {
      closeSync(fd);
    }
  }

  natsLog(h: Host): string {
    return path.join(this.dir, `nats-${h.name}.log`);
  }

  /** The JetStream server name of host `h`'s nats-server (natsOnEveryHost): its client address and port. */
  natsServerName(h: Host): string {
    return `${h.addr}-4222`;
  }

  /** The pid of host `h`'s nats-server process itself (natsOnEveryHost): cluster.json's for host 1, else its log's. */
  natsServerPid(h: Host): number {
    if (h.n === 1) return (JSON.parse(readFileSync(path.join(this.dir, "cluster.json"), "utf8")) as { natsPid: number }).natsPid;
    const m = /listening on \S+ \(pid (\d+);/.exec(readFileSync(this.natsLog(h), "utf8"));
    if (!m) throw new Error(`no pid in ${this.natsLog(h)}`);
    return Number(m[1]);
  }

  /** Every JetStream stream with its placement, asked from host `h` (fixtures/jetstream-probe.mjs); [] on failure. */
  async streams(h: Host = this.head): Promise<StreamPlacement[]> {
    const r = await this.probe(h, "info");
    return r.code === 0 ? (JSON.parse(r.stdout) as StreamPlacement[]) : [];
  }

  /** fixtures/jetstream-probe.mjs `what` in host `h`'s namespace. */
  probe(h: Host, ...what: ["info"] | ["write"] | ["stepdown", string]): Promise<Run> {
    return this.net.run(h, [process.execPath, probeScript, this.dir, ...what], 60_000);
  }

  /** (Re)starts the host agent of `h`; its log goes to agentLog(h) (appended). */
  startAgent(h: Host): void {
    const argv = [process.execPath, bin, "agent", "--nats", this.url, "--token-file", path.join(this.dir, "creds", "agent")];
    argv.push("--name", h.name, "--advertise", h.addr, "--slots", String(this.slots));
    const fd = openSync(this.agentLog(h), "a");
    try {
      this.agents.set(h.n, this.net.spawn(h, argv, fd));
    } finally {
      closeSync(fd);
    }
  }

  agentLog(h: Host): string {
    return path.join(this.dir, `agent-${h.name}.log`);
  }

  /** What the agent of `h` logged of its children's exits (its log's "exited" lines). */
  exits(h: Host): { actorId: string; pid: number; code: number | null; signal: string | null }[] {
    return readFileSync(this.agentLog(h), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("{") && l.includes('"msg":"exited"'))
      .map((l) => JSON.parse(l) as { actorId: string; pid: number; code: number | null; signal: string | null });
  }

  /** The host records of the cluster, read from host 1. */
  async hostRecords(): Promise<{ name: string; lastSeen: number }[]> {
    const r = await this.troupe(this.head, "ps", "--hosts", "--json", "--cluster", this.dir);
    return r.code === 0 ? (JSON.parse(r.stdout) as { name: string; lastSeen: number }[]) : [];
  }

  async waitHosts(count: number): Promise<void> {
    await pollUntil(async () => ((await this.hostRecords()).length >= count ? true : undefined), {
      what: `${count} hosts registered`,
      timeoutMs: 60_000,
      everyMs: 250,
    });
  }

  /** Stops the agents and the cluster; what is left in the namespaces goes with Netns.remove. */
  async down(): Promise<void> {
    for (const a of this.agents.values()) if (a.exitCode === null && a.signalCode === null) a.kill("SIGTERM");
    await Promise.all(
      [...this.agents.values()].map((a) =>
        a.exitCode === null && a.signalCode === null
          ? Promise.race([new Promise((r) => a.once("exit", r)), new Promise((r) => setTimeout(r, 10_000))])
          : null,
      ),
    );
    if (this.url) await this.troupe(this.head, "down", "--cluster", this.dir);
    for (const n of this.natsServers.values()) if (n.exitCode === null && n.signalCode === null) n.kill("SIGTERM");
  }
}

export interface JobYaml {
  name: string;
  seed: number;
  steps: number;
  parallel: { dp: number; pp: number; tp: number };
  /** The Brown corpus' cache, in the test's directory. */
  cacheDir: string;
  /** Default 1: every step printed (tests wait for a step's line). */
  logInterval?: number;
  /** Eval and checkpoint intervals, default `steps`: one eval and one checkpoint, the final one. */
  evalInterval?: number;
  checkpointInterval?: number;
  /** The `recovery:` mapping's inside, when the job sets one. */
  recovery?: string;
}

/** The tiny job the multi-host tests (and bench) train: 2 layers of d 16, Brown with a vocabulary of 300, 1 thread. */
export function jobYaml(j: JobYaml): string {
  const { dp, pp, tp } = j.parallel;
  return `name: ${j.name}
seed: ${j.seed}
threads: 1
logInterval: ${j.logInterval ?? 1}
parallel: {dp: ${dp}, pp: ${pp}, tp: ${tp}}
model: {layers: 2, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1, cacheDir: ${JSON.stringify(j.cacheDir)}}
optimizer: {lr: 0.01}
batch: {size: 4, microBatch: 1}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: ${j.steps}}
eval: {interval: ${j.evalInterval ?? j.steps}, batches: 1}
checkpoint: {interval: ${j.checkpointInterval ?? j.steps}, keep: 1}
${j.recovery === undefined ? "" : `recovery: {${j.recovery}}\n`}`;
}

/**
 * A test file's teardown: the cluster down, the namespaces removed, and `root` deleted unless TROUPE_KEEP_TEST_DIR=1
 * (which keeps the run directories and the logs for a look after a failure).
 */
export async function tearDown(cluster: NetCluster, net: Netns, root: string): Promise<void> {
  try {
    await cluster.down();
  } finally {
    net.remove();
    if (!process.env.TROUPE_KEEP_TEST_DIR) rmSync(root, { recursive: true, force: true });
    else console.warn(`kept ${root}`);
  }
}
