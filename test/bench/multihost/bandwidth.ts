// The multihost benchmark's first half: all-reduce bus bandwidth of the CPU collectives between two network
// namespaces (two "hosts" joined by veth pairs and a bridge) beside the same two ranks over loopback inside one
// namespace, same sizes. A nats-server for the rendezvous runs in the first namespace; nothing in the root
// namespace talks to the namespaces' addresses.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { pollUntil } from "../../../runtime/async.ts";
import type { Host, Netns } from "../../multihost/netns.ts";
import type { RankArgs } from "./allreduce-rank.ts";

const MB = 1 << 20;
const rankScript = path.join(import.meta.dirname, "allreduce-rank.ts");

export interface BandwidthFigures {
  /** size in MB → bus bandwidth in GB/s */
  netns: Record<string, number>;
  loopback: Record<string, number>;
}

/** busBW = size · 2(n−1)/n / time (NCCL's definition), for 2 ranks. */
const busGBps = (sizeMB: number, ms: number) => (sizeMB * MB) / (ms / 1000) / 1e9;

async function world(
  net: Netns,
  natsUrl: string,
  ranks: { h: Host; listen: string }[],
  sizesMB: number[],
): Promise<Record<string, number>> {
  const session = `benchmh-${process.pid}-${Date.now()}`;
  const keyHex = randomBytes(32).toString("hex");
  const children = ranks.map(({ h, listen }, rank) => {
    const args: RankArgs = { natsUrl, session, keyHex, rank, worldSize: ranks.length, sizesMB, host: listen };
    return net.spawn(h, [process.execPath, "--import", "tsx", rankScript, JSON.stringify(args)], "pipe");
  });
  try {
    let out = "";
    children[0]!.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    for (const c of children) c.stderr!.on("data", (d: Buffer) => process.stderr.write(d));
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.once("exit", r))));
    if (codes.some((c) => c !== 0)) throw new Error(`an all-reduce rank failed (exit codes ${codes.join(", ")})`);
    const medians = JSON.parse(out.trim()) as Record<string, number>;
    return Object.fromEntries(sizesMB.map((s) => [String(s), busGBps(s, medians[String(s)]!)]));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  }
}

/** The benchmark's nats-servers being stopped on purpose. */
const stopping = new WeakSet<ChildProcess>();

/** A JetStream nats-server listening on `h`'s address (port 4222: the namespace is new). */
async function natsIn(net: Netns, h: Host, dir: string): Promise<{ url: string; server: ChildProcess }> {
  const server = net.spawn(h, ["nats-server", "-js", "-sd", dir, "-a", h.addr, "-p", "4222"], "pipe");
  let log = "";
  server.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  server.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  // only an exit nobody asked for is news (stopped, it exits 0 on SIGINT; on SIGTERM it would exit 1)
  server.once("exit", (code, signal) => {
    if (!stopping.has(server) && (code !== 0 || signal))
      console.error(`nats-server in ${h.ns} exited (${code ?? signal}):\n${log.slice(-2000)}`);
  });
  const url = `nats://${h.addr}:4222`;
  // --norc: bash started with a socket for stdin (as Node's exec gives it) reads ~/.bashrc even non-interactive,
  // and a shell set-up that waits there (pyenv's rehash on a stale lock) held every probe past its timeout
  const probe = ["bash", "--norc", "-c", `exec 3<>/dev/tcp/${h.addr}/4222`];
  await pollUntil(async () => ((await net.run(h, probe, 5000)).code === 0 ? true : undefined), {
    what: "nats-server in the namespace",
    timeoutMs: 60_000,
    everyMs: 200,
  }).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; its log:\n${log.slice(-2000)}`);
  });
  return { url, server };
}

export async function measureBandwidth(net: Netns, dir: string, sizesMB: number[]): Promise<BandwidthFigures> {
  const [a, b] = [net.host(1), net.host(2)];
  const { url, server } = await natsIn(net, a, path.join(dir, "nats-bw"));
  try {
    const across = await world(
      net,
      url,
      [
        { h: a, listen: a.addr },
        { h: b, listen: b.addr },
      ],
      sizesMB,
    );
    const loop = await world(
      net,
      url,
      [
        { h: a, listen: "127.0.0.1" },
        { h: a, listen: "127.0.0.1" },
      ],
      sizesMB,
    );
    return { netns: across, loopback: loop };
  } finally {
    stopping.add(server);
    server.kill("SIGINT");
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
  }
}
