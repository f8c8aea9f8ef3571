// Hosts for real on one machine: a bridge and N network namespaces joined by veth pairs, with a troupe cluster on
// them (`troupe up --listen` in host 1 with 0 slots, a host agent in each other namespace). Every command that talks
// to a 10.x address runs inside a namespace: nothing in the root namespace reaches the bridge. A host is lost for
// real (every process of its namespace SIGKILLed, its link taken down) and cut off for real (link down, then up).
// Names carry a random suffix; `remove` kills every process left in the namespaces and deletes them. Needs root.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { closeSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { pollUntil } from "../../runtime/async.ts";

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
export const bin = path.join(repo, "bin/troupe.js");

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

/**
 * A troupe cluster on the namespaces: `troupe up --listen` on host 1 with 0 slots (nats-server, services, the
 * coordinators), and a host agent with `slots` worker slots on every other host.
 */
export class NetCluster {
  url = "";
  readonly agents = new Map<number, ChildProcess>();

  constructor(
    readonly net: Netns,
    readonly dir: string,
    private readonly slots: number,
  ) {}

  get head(): Host {
    return this.net.host(1);
  }

  /** `troupe ARGS` on host `h` (undefined: here, on loopback). */
  troupe(h: Host | undefined, ...args: string[]): Promise<Run> {
    return this.net.run(h, [process.execPath, bin, ...args]);
  }

  async up(): Promise<void> {
    const h = this.head;
    const up = await this.troupe(h, "up", "--listen", h.addr, "--slots", "0", "--name", h.name, "--cluster", this.dir, "--json");
    if (up.code !== 0 || up.stderr !== "") throw new Error(`troupe up failed (${up.code}): ${up.stderr}`);
    this.url = (JSON.parse(up.stdout) as { url: string }).url;
    for (const w of this.net.hosts.slice(1)) this.startAgent(w);
    await this.waitHosts(this.net.hosts.length);
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
  }
}
