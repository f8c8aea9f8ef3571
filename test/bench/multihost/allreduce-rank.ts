// One rank of the multihost benchmark's all-reduce (multihost/bandwidth.ts starts it inside a network namespace):
// joins the world through the NATS KV rendezvous, listens on `host`, times all-reduces and, as rank 0, prints the
// median milliseconds per size as one JSON line.
// Usage: node --import tsx allreduce-rank.ts '<json RankArgs>'
import { connect } from "@nats-io/transport-node";
import { createCpuCollectives, KvRendezvous } from "../../../runtime/collectives/mod.ts";

export interface RankArgs {
  natsUrl: string;
  session: string;
  keyHex: string;
  rank: number;
  worldSize: number;
  sizesMB: number[];
  /** The address this rank listens on (its namespace's, or 127.0.0.1). */
  host: string;
}

const MB = 1 << 20;
const itersFor = (sizeMB: number) => (sizeMB >= 64 ? 3 : sizeMB >= 8 ? 5 : 20);

async function runRank(args: RankArgs): Promise<void> {
  const nc = await connect({ servers: args.natsUrl });
  const world = await createCpuCollectives({
    rank: args.rank,
    worldSize: args.worldSize,
    session: args.session,
    key: Buffer.from(args.keyHex, "hex"),
    rendezvous: await KvRendezvous.open(nc, args.session),
    host: args.host,
    opTimeoutMs: 120_000,
  });
  await nc.close();
  const results: Record<string, number> = {};
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
    results[String(sizeMB)] = times[Math.floor(times.length / 2)]!;
  }
  await world.barrier();
  if (args.rank === 0) process.stdout.write(JSON.stringify(results) + "\n");
  await world.close();
}

await runRank(JSON.parse(process.argv[2]!) as RankArgs);
