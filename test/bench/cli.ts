// Benchmark: how long the `troupe` command takes to answer, start-up included: `troupe --help` (no cluster) and
// `troupe ps` against a running nats-server with a few actor records. Each is run N times in a row (after one
// warm-up run that also rebuilds the bundled CLI if a source changed); the figure is the median wall time, with
// the median CPU time (user + system of the child) beside it, which a loaded machine disturbs less. A bare
// `node -e 0` is timed the same way in the same run: what troupe adds over Node's own start-up is the difference,
// which holds on a loaded machine where the absolute wall times do not.
// Usage: npm run bench -- cli [runs]   (default 15)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { connectNats } from "../../runtime/connection.ts";
import { namespace } from "../../runtime/namespace.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { Registry } from "../../runtime/registry.ts";
import { writeClusterInfo, writeNewToken } from "../../cli/cluster/cluster-file.ts";

const runs = Number(process.argv[2] ?? 15);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a positive integer, got '${process.argv[2]}'`);

const troupe = path.resolve("bin/troupe.js");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall and CPU seconds of `node ...args` (bin/troupe.js and its arguments), `runs` times after one warm-up. */
function time(args: string[]): { wall: number; cpu: number } {
  const once = () => {
    const t0 = performance.now();
    const r = spawnSync("/usr/bin/time", ["-f", "%U %S", process.execPath, ...args], { encoding: "utf8" });
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    const [user, sys] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
    return { wall, cpu: user! + sys! };
  };
  once();
  const samples = Array.from({ length: runs }, once);
  return { wall: median(samples.map((s) => s.wall)), cpu: median(samples.map((s) => s.cpu)) };
}

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-cli-"));
const loadAtStart = os.loadavg()[0]!;
const tokenFile = path.join(dir, "token");
const token = writeNewToken(tokenFile);
const server = await startNatsServer({ dir: path.join(dir, "nats"), token });
try {
  const clusterId = "benchcli";
  writeClusterInfo(dir, {
    clusterId,
    url: server.url,
    tokenFile,
    credsDir: null,
    natsPid: server.pid,
    agentPid: null,
    supervisorPid: null,
    servicesPid: null,
    startedAt: Date.now(),
  });
  const nc = await connectNats({ url: server.url, token, name: "bench-cli" });
  const registry = await Registry.open(nc, namespace(clusterId));
  for (let i = 0; i < 8; i++) {
    await registry.putActor({
      id: `bench-w${i}`,
      supervisor: "bench",
      coords: { d: i % 2, p: 0, t: 0 },
      host: "h",
      pid: 1000 + i,
      state: "alive",
      restarts: 0,
      step: 0,
      epoch: 1,
      lastHeartbeat: Date.now(),
      deathCause: null,
      seq: 1,
      updatedAt: Date.now(),
      snapshot: null,
    });
  }
  await nc.close();
  const node = time(["-e", "0"]);
  const help = time([troupe, "--help"]);
  const ps = time([troupe, "ps", "--cluster", dir]);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const over = (t: { wall: number; cpu: number }) => `+${(t.wall - node.wall).toFixed(3)} s wall, +${(t.cpu - node.cpu).toFixed(2)} s CPU`;
  console.log(`node -e 0:     median ${node.wall.toFixed(3)} s wall, ${node.cpu.toFixed(2)} s CPU (Node's own start-up)`);
  console.log(
    `troupe --help: median ${help.wall.toFixed(3)} s wall, ${help.cpu.toFixed(2)} s CPU (target ≤ 0.3 s); over node: ${over(help)}`,
  );
  console.log(`troupe ps:     median ${ps.wall.toFixed(3)} s wall, ${ps.cpu.toFixed(2)} s CPU (target ≤ 0.6 s); over node: ${over(ps)}`);
  console.log(`${runs} runs each; load average ${loadAtStart.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end`);
  console.log(
    JSON.stringify({
      bench: "cli",
      runs,
      helpSeconds: r3(help.wall),
      helpCpuSeconds: r3(help.cpu),
      psSeconds: r3(ps.wall),
      psCpuSeconds: r3(ps.cpu),
      nodeSeconds: r3(node.wall),
      nodeCpuSeconds: r3(node.cpu),
      targets: { helpSeconds: 0.3, psSeconds: 0.6 },
      met: help.wall <= 0.3 && ps.wall <= 0.6,
      load: r3(loadAtStart),
    }),
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
