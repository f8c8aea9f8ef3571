// Two hosts for real: a bridge and three network namespaces joined by veth pairs. ns1 runs `troupe up --listen` on
// its bridge address with a host agent of 0 slots; ns2 and ns3 each run `troupe agent --advertise` with 4 slots. A
// 2×2×2 job submitted from ns1 puts its 8 workers on host2 and host3, each tensor-parallel pair on one host, and
// trains the same numbers as the same job on one host. Every command that talks to a 10.x address runs inside a
// namespace (ip netns exec): nothing in the root namespace reaches the bridge. Needs root and `ip netns`.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../runtime/async.ts";

const exec = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const sfx = randomBytes(3).toString("hex");
const net = `10.${randomInt(20, 250)}.${randomInt(0, 250)}`;
const bridge = `trb${sfx}`;
const spaces = [1, 2, 3].map((n) => ({ n, ns: `tr${sfx}-${n}`, veth: `trv${sfx}${n}`, addr: `${net}.${n}` }));

/** Why this test cannot run here, or undefined when it can (root, and a namespace can be made). */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const probe = `trprobe${sfx}`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (r.status !== 0) return `ip netns is not possible here: ${(r.stderr || r.error?.message || "").trim()}`;
  spawnSync("ip", ["netns", "del", probe]);
  return undefined;
}
const skip = unavailable();
if (skip) console.warn(`two-hosts test skipped: ${skip}`);

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });

function createNetwork(): void {
  ip("link", "add", bridge, "type", "bridge");
  ip("link", "set", bridge, "up");
  for (const s of spaces) {
    ip("netns", "add", s.ns);
    ip("link", "add", s.veth, "type", "veth", "peer", "name", "eth0", "netns", s.ns);
    ip("link", "set", s.veth, "master", bridge, "up");
    ip("-n", s.ns, "addr", "add", `${s.addr}/24`, "dev", "eth0");
    ip("-n", s.ns, "link", "set", "eth0", "up");
    ip("-n", s.ns, "link", "set", "lo", "up");
  }
}

function removeNetwork(): void {
  for (const s of spaces) {
    spawnSync("ip", ["link", "del", s.veth]);
    spawnSync("ip", ["netns", "del", s.ns]);
  }
  spawnSync("ip", ["link", "del", bridge]);
}

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-2hosts-"));
const cluster = path.join(root, "cluster");
const config = path.join(root, "mh3d.yaml");
const agents: ChildProcess[] = [];

/** `troupe ARGS` in namespace `ns` (undefined: here, for the single-host reference on loopback). */
async function troupe(ns: string | undefined, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [process.execPath, bin, ...args];
  try {
    const r = ns
      ? await exec("ip", ["netns", "exec", ns, ...argv], { cwd: repo, timeout: 150_000 })
      : await exec(argv[0]!, argv.slice(1), { cwd: repo, timeout: 150_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const STEPS = 6;
const yaml = `name: mh3d
seed: 5
threads: 1
logInterval: 2
parallel: {dp: 2, pp: 2, tp: 2}
model: {layers: 2, dModel: 16, heads: 2, seqLen: 16}
data: {corpus: brown, vocabSize: 300, heldOutPerGenre: 1, cacheDir: ${JSON.stringify(path.join(root, "data"))}}
optimizer: {lr: 0.01}
batch: {size: 4, microBatch: 1}
schedule: {warmupTokens: 64, decayTokens: 5000}
train: {steps: ${STEPS}}
eval: {interval: ${STEPS}, batches: 1}
checkpoint: {interval: ${STEPS}, keep: 1}
`;

/** The final checkpoint's file hashes: two runs that trained the same numbers have the same ones. */
function finalFiles(runDir: string): Record<string, string> {
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", `step-${String(STEPS).padStart(8, "0")}`, "manifest.json"), "utf8"));
  return Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256]));
}

describe.skipIf(skip !== undefined)("two hosts in network namespaces", () => {
  const [ns1, ns2, ns3] = spaces as [(typeof spaces)[0], (typeof spaces)[0], (typeof spaces)[0]];

  beforeAll(async () => {
    writeFileSync(config, yaml);
    createNetwork();
    const up = await troupe(ns1.ns, "up", "--listen", ns1.addr, "--slots", "0", "--name", "host1", "--cluster", cluster, "--json");
    expect(up.stderr).toBe("");
    const url = (JSON.parse(up.stdout) as { url: string }).url;
    expect(url).toMatch(new RegExp(`^nats://${ns1.addr.replaceAll(".", "\\.")}:\\d+$`));
    for (const s of [ns2, ns3]) {
      const argv = ["agent", "--nats", url, "--token-file", path.join(cluster, "creds", "agent")];
      argv.push("--name", `host${s.n}`, "--advertise", s.addr, "--slots", "4");
      const child = spawn("ip", ["netns", "exec", s.ns, process.execPath, bin, ...argv], { cwd: repo, stdio: "ignore" });
      agents.push(child);
    }
    await pollUntil(
      async () => {
        const r = await troupe(ns1.ns, "ps", "--hosts", "--json", "--cluster", cluster);
        const hosts = r.code === 0 ? (JSON.parse(r.stdout) as { name: string }[]) : [];
        return hosts.length === 3 || undefined;
      },
      { what: "three hosts registered", timeoutMs: 60_000, everyMs: 200 },
    );
  }, 120_000);

  afterAll(async () => {
    for (const a of agents) a.kill("SIGTERM");
    await Promise.all(agents.map((a) => (a.exitCode === null && a.signalCode === null ? new Promise((r) => a.once("exit", r)) : null)));
    await troupe(ns1.ns, "down", "--cluster", cluster);
    removeNetwork();
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it("places a 2×2×2 job's workers on both hosts, tensor pairs together, and trains what one host trains", async () => {
    const runDir = path.join(root, "multi");
    const train = await troupe(ns1.ns, "train", config, "--name", "mh", "--run-dir", runDir, "--no-samples", "--cluster", cluster);
    expect(train.code, train.stderr).toBe(0);
    const ps = await troupe(ns1.ns, "ps", "--all", "--job", "mh", "--json", "--cluster", cluster);
    const rows = (
      JSON.parse(ps.stdout) as { id: string; host: string | null; coords: { d: number; p: number; t: number } | null }[]
    ).filter((r) => /^mh-w\d+$/.test(r.id));
    expect(rows).toHaveLength(8);
    expect(new Set(rows.map((r) => r.host))).toEqual(new Set(["host2", "host3"]));
    for (const r of rows) {
      const peer = rows.find((o) => o.coords!.d === r.coords!.d && o.coords!.p === r.coords!.p && o.coords!.t !== r.coords!.t)!;
      expect(peer.host, `tensor peer of ${r.id}`).toBe(r.host);
    }

    // the same job on one host, on loopback in this namespace
    const single = path.join(root, "single-cluster");
    const upSingle = await troupe(undefined, "up", "--slots", "8", "--name", "solo", "--cluster", single);
    expect(upSingle.code, upSingle.stderr).toBe(0);
    try {
      const refDir = path.join(root, "single");
      const ref = await troupe(undefined, "train", config, "--name", "mh", "--run-dir", refDir, "--no-samples", "--cluster", single);
      expect(ref.code, ref.stderr).toBe(0);
      expect(finalFiles(runDir)).toEqual(finalFiles(refDir));
    } finally {
      await troupe(undefined, "down", "--cluster", single);
    }
  }, 240_000);
});
