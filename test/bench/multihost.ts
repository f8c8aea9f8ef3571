// Benchmark: several hosts for real, as network namespaces on this machine (test/multihost/netns.ts; needs root).
// 1. All-reduce bus bandwidth of the CPU collectives between two namespaces (veth pairs and a bridge) beside the same
//    two ranks over loopback, same sizes, and their ratio.
// 2. Whole-host loss → the job's next committed step: a 2×1×2 job with replica 1 on its own host and a spare host;
//    the host's link goes down and every process on it is SIGKILLed, `losses` times (p50/p95).
// Usage: npm run bench -- multihost [losses] [settle seconds] [--quick]   (defaults: 4 losses, 10 s; --quick: 1 and 8 MB)
//   TROUPE_BENCH_TIMELINE=1 prints every event from each loss to its commit (ms after the loss).
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { NetCluster, Netns, netnsUnavailable } from "../multihost/netns.ts";
import { measureBandwidth } from "./multihost/bandwidth.ts";
import { measureHostLosses } from "./multihost/host-loss-timing.ts";
import { quantile } from "./recovery/timed-job.ts";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const quick = process.argv.includes("--quick");
const losses = Number(args[0] ?? 4);
const settle = Number(args[1] ?? 10);
if (!Number.isInteger(losses) || losses < 1) throw new Error(`losses must be a positive integer, got '${args[0]}'`);
if (!(settle >= 0)) throw new Error(`settle must be a number of seconds ≥ 0, got '${args[1]}'`);
const why = netnsUnavailable();
if (why) {
  console.error(`multihost benchmark: ${why}`);
  process.exit(2);
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-multihost-"));
const net = new Netns(4);
const cluster = new NetCluster(net, path.join(dir, "cluster"), 2);
const loadAtStart = os.loadavg()[0]!.toFixed(2);
try {
  net.create();
  const sizesMB = quick ? [1, 8] : [1, 8, 64];
  const bw = await measureBandwidth(net, dir, sizesMB);
  console.log("size    netns busBW GB/s   loopback busBW GB/s   netns / loopback");
  const ratios: Record<string, number> = {};
  for (const s of sizesMB.map(String)) {
    ratios[s] = bw.netns[s]! / bw.loopback[s]!;
    console.log(
      `${s.padStart(3)} MB  ${bw.netns[s]!.toFixed(3).padStart(17)}   ${bw.loopback[s]!.toFixed(3).padStart(19)}   ${ratios[s]!.toFixed(3).padStart(16)}`,
    );
  }

  await cluster.up();
  const lost = await measureHostLosses(cluster, dir, losses, settle * 1000);
  const secs = lost.map((l) => l.seconds);
  const p50 = quantile(secs, 0.5);
  const p95 = quantile(secs, 0.95);
  const med = (f: (l: (typeof lost)[0]) => number) => r3(quantile(lost.map(f), 0.5));
  console.log(
    `${lost.length} host losses: → next committed step p50 ${p50.toFixed(3)} s, p95 ${p95.toFixed(3)} s; ` +
      `median detection ${med((l) => l.detectSeconds)} s, recovery ${med((l) => l.recoverSeconds)} s, state transfer ${med((l) => l.restoreSeconds)} s; ` +
      `restored from ${[...new Set(lost.map((l) => l.source))].join(",")}; load average ${loadAtStart} at start, ${os.loadavg()[0]!.toFixed(2)} at end`,
  );
  const ratio8 = ratios["8"]!;
  console.log(
    JSON.stringify({
      bench: "multihost",
      figures: {
        busGBps_netns: Object.fromEntries(Object.entries(bw.netns).map(([k, v]) => [`${k}MB`, r3(v)])),
        busGBps_loopback: Object.fromEntries(Object.entries(bw.loopback).map(([k, v]) => [`${k}MB`, r3(v)])),
        netns_over_loopback: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [`${k}MB`, r3(v)])),
        host_losses: lost.length,
        settle_s: settle,
        loss_to_commit_p50_s: r3(p50),
        loss_to_commit_p95_s: r3(p95),
        loss_to_commit_s: secs.map(r3),
        detect_median_s: med((l) => l.detectSeconds),
        recover_median_s: med((l) => l.recoverSeconds),
        restore_median_s: med((l) => l.restoreSeconds),
        replacement_start_median_s: med((l) => l.startSeconds),
        warm_spares_used: lost.reduce((n, l) => n + l.warm, 0),
        load_average: [Number(loadAtStart), Number(os.loadavg()[0]!.toFixed(2))],
      },
      targets: {
        loss_to_commit_p95_s: { op: "<=", value: 3, actual: r3(p95), met: p95 <= 3 },
        netns_over_loopback_8MB: { op: ">=", value: 0.5, actual: r3(ratio8), met: ratio8 >= 0.5 },
      },
    }),
  );
} finally {
  await cluster.down().catch(() => undefined);
  net.remove();
  rmSync(dir, { recursive: true, force: true });
}
