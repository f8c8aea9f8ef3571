// Two hosts for real: a bridge and three network namespaces joined by veth pairs. ns1 runs `troupe up --listen` on
// its bridge address with a host agent of 0 slots; ns2 and ns3 each run `troupe agent --advertise` with 4 slots. A
// 2×2×2 job submitted from ns1 puts its 8 workers on host2 and host3, each tensor-parallel pair on one host, and
// trains the same numbers as the same job on one host. Every command that talks to a 10.x address runs inside a
// namespace (ip netns exec): nothing in the root namespace reaches the bridge. Needs root and `ip netns`.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobYaml, NetCluster, Netns, netnsUnavailable, tearDown } from "./netns.ts";

const skip = netnsUnavailable();
if (skip) console.warn(`two-hosts test skipped: ${skip}`);

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-2hosts-"));
const config = path.join(root, "mh3d.yaml");
const net = new Netns(3);
const cluster = new NetCluster(net, path.join(root, "cluster"), 4);
const troupe = cluster.troupe.bind(cluster);
const clusterDir = cluster.dir;

const STEPS = 6;
const yaml = jobYaml({
  name: "mh3d",
  seed: 5,
  steps: STEPS,
  logInterval: 2,
  parallel: { dp: 2, pp: 2, tp: 2 },
  cacheDir: path.join(root, "data"),
});

/** The final checkpoint's file hashes: two runs that trained the same numbers have the same ones. */
function finalFiles(runDir: string): Record<string, string> {
  const m = JSON.parse(readFileSync(path.join(runDir, "checkpoints", `step-${String(STEPS).padStart(8, "0")}`, "manifest.json"), "utf8"));
  return Object.fromEntries(m.files.map((f: { file: string; sha256: string }) => [f.file, f.sha256]));
}

describe.skipIf(skip !== undefined)("two hosts in network namespaces", () => {
  const ns1 = net.host(1);

  beforeAll(async () => {
    writeFileSync(config, yaml);
    net.create();
    await cluster.up();
    expect(cluster.url).toMatch(new RegExp(`^nats://${ns1.addr.replaceAll(".", "\\.")}:\\d+$`));
  }, 120_000);

  afterAll(() => tearDown(cluster, net, root), 60_000);

  it("places a 2×2×2 job's workers on both hosts, tensor pairs together, and trains what one host trains", async () => {
    const runDir = path.join(root, "multi");
    const train = await troupe(ns1, "train", config, "--name", "mh", "--run-dir", runDir, "--no-samples", "--cluster", clusterDir);
    expect(train.code, train.stdout + train.stderr).toBe(0);
    const ps = await troupe(ns1, "ps", "--all", "--job", "mh", "--json", "--cluster", clusterDir);
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
