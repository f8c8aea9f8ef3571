// Bus bandwidth of the CPU collectives' all-reduce for 1, 8 and 64 MB with 2, 4 and 8 rank processes,
// beside this machine's memcpy bandwidth measured in the same run.
// Also the latency of a 4 KB all-reduce per rank count.
// busBW = size · 2(n−1)/n / time (NCCL's definition: the bytes each rank must move, per second).
// Usage: npm run bench -- allreduce [--quick]   (--quick: 1 and 8 MB only)
// The same file is the rank process: it re-runs itself with `--rank <json>`.
import { connect } from "@nats-io/transport-node";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { createCpuCollectives, KvRendezvous } from "../../runtime/collectives/mod.ts";

const MB = 1 << 20;
const self = fileURLToPath(import.meta.url);

interface RankArgs {
  natsUrl: string;
  session: string;
  keyHex: string;
  rank: number;
  worldSize: number;
  sizesMB: number[];
}

function itersFor(sizeMB: number): number {
  return sizeMB >= 64 ? 3 : sizeMB >= 8 ? 5 : 20;
}

async function runRank(args: RankArgs): Promise<void> {
  const nc = await connect({ servers: args.natsUrl });
  const world = await createCpuCollectives({
    rank: args.rank,
    worldSize: args.worldSize,
    session: args.session,
    key: Buffer.from(args.keyHex, "hex"),
    rendezvous: await KvRendezvous.open(nc, args.session),
    opTimeoutMs: 120_000,
  });
  await nc.close();
  const results: Record<string, number> = {};
  // latency: a 4 KB all-reduce (what small tensor-parallel activations cost), median of 200
  {
    const small = new Float32Array(1024).fill(args.rank + 1);
    for (let i = 0; i < 20; i++) await world.allReduce(small);
    await world.barrier();
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await world.allReduce(small);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    results.latency4KB = times[100]!;
  }
  for (const sizeMB of args.sizesMB) {
    const data = new Float32Array((sizeMB * MB) / 4).fill(args.rank + 1);
    await world.allReduce(data); // warm-up: JIT, socket buffers
    const times: number[] = [];
    for (let i = 0; i < itersFor(sizeMB); i++) {
      await world.barrier();
      const t = performance.now();
      await world.allReduce(data);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    results[String(sizeMB)] = times[Math.floor(times.length / 2)]!; // median
  }
  await world.barrier();
  if (args.rank === 0) process.stdout.write(JSON.stringify(results) + "\n");
  await world.close();
}

function memcpyGBps(): number {
  const src = new Uint8Array(64 * MB).fill(7);
  const dst = new Uint8Array(64 * MB);
  dst.set(src); // touch the pages
  const reps = 10;
  const t = performance.now();
  for (let i = 0; i < reps; i++) dst.set(src);
  const s = (performance.now() - t) / 1000;
  return (reps * src.length) / s / 1e9;
}

async function runWorld(natsUrl: string, worldSize: number, sizesMB: number[]): Promise<Record<string, number>> {
  const session = `bench-${process.pid}-${worldSize}-${Date.now()}`;
  const keyHex = randomBytes(32).toString("hex");
  const children = Array.from({ length: worldSize }, (_, rank) =>
    spawn(process.execPath, ["--import", "tsx", self, "--rank", JSON.stringify({ natsUrl, session, keyHex, rank, worldSize, sizesMB })], {
      stdio: ["ignore", "pipe", "inherit"],
    }),
  );
  try {
    let out = "";
    children[0]!.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.once("exit", r))));
    if (codes.some((c) => c !== 0)) throw new Error(`a rank failed (exit codes ${codes.join(", ")})`);
    return JSON.parse(out.trim()) as Record<string, number>;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const sizesMB = quick ? [1, 8] : [1, 8, 64];
  const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-allreduce-"));
  const server = await startNatsServer({ dir });
  try {
    const memcpy = memcpyGBps();
    console.log(`memcpy: ${memcpy.toFixed(2)} GB/s (64 MB TypedArray.set, this process)`);
    console.log("ranks  size    median ms   busBW GB/s   busBW / memcpy");
    const figures: Record<string, number> = { memcpyGBps: memcpy };
    for (const n of [2, 4, 8]) {
      const medians = await runWorld(server.url, n, sizesMB);
      figures[`latencyUs_${n}ranks_4KB`] = medians.latency4KB! * 1000;
      console.log(`${String(n).padStart(5)}    4 KB  ${medians.latency4KB!.toFixed(3).padStart(9)}   (latency)`);
      for (const sizeMB of sizesMB) {
        const ms = medians[String(sizeMB)]!;
        const bus = (sizeMB * MB * ((2 * (n - 1)) / n)) / (ms / 1000) / 1e9;
        figures[`busGBps_${n}ranks_${sizeMB}MB`] = bus;
        console.log(
          `${String(n).padStart(5)}  ${String(sizeMB).padStart(3)} MB  ${ms.toFixed(1).padStart(9)}   ${bus.toFixed(3).padStart(10)}   ${(bus / memcpy).toFixed(4).padStart(10)}`,
        );
      }
    }
    // A socket hop costs several memory copies (user→kernel→user), so a ratio of a few percent of memcpy is
    // the healthy range on a shared 2-core machine; below 1% would mean a pathological slowdown.
    const ratio = figures[`busGBps_2ranks_8MB`]! / memcpy;
    console.log(
      JSON.stringify({
        bench: "allreduce",
        figures,
        targets: { busBW2ranks8MBOverMemcpy: { op: ">=", value: 0.01, actual: ratio, met: ratio >= 0.01 } },
      }),
    );
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rankFlag = process.argv.indexOf("--rank");
if (rankFlag >= 0) await runRank(JSON.parse(process.argv[rankFlag + 1]!) as RankArgs);
else await main();
