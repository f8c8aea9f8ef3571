// Benchmark: what a message costs the nats-server of a `troupe up` cluster (per-role users, runtime/nats-roles.ts)
// as a connection keeps receiving messages with reply subjects (every JetStream delivery has one: its ack subject;
// so has every request). A role user with `allow_responses` makes nats-server 2.9 remember each such reply subject
// for two minutes, and past 4096 of them scan all it remembers at every delivery: a job's lifecycle watch and
// event readers made the server's CPU per step grow about fourfold over the first minutes of a run and its step
// rate halve (docs/benchmarks.md "nats-roles"). The roles do not set it (their publish rules already allow replies).
// Two servers in one run, the authorization block as `troupe up` writes it and the same with `allow_responses`:
// an operator publishes messages with distinct reply subjects to a worker's subscription, in 8 batches; the server's
// CPU per message of the last batch over the first's is the figure. Target: at most 1.5 as configured (N messages,
// enough for /proc's 10 ms CPU ticks); with `allow_responses` 40 000 are enough to show the growth.
// Usage: npm run bench -- nats-roles [--messages N]   (default 800000; about 30 s)
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import { writeNewCredentials } from "../../cli/cluster/cluster-file.ts";
import { pollUntil } from "../../runtime/async.ts";
import { connectNats } from "../../runtime/connection.ts";
import { namespace } from "../../runtime/namespace.ts";
import { authorizationBlock, roleSecret } from "../../runtime/nats-roles.ts";
import { startNatsServer } from "../../runtime/nats-server.ts";
import { cpuSeconds } from "./proc-cpu.ts";

const TARGET = 1.5;
const BATCHES = 8;
const { values } = parseArgs({ options: { messages: { type: "string", default: "800000" } } });
const messages = Number(values.messages);
if (!Number.isInteger(messages) || messages < BATCHES * 1000)
  throw new Error(`--messages must be an integer ≥ ${BATCHES * 1000}, got '${values.messages}'`);
const SHOWN = 40_000;

/** Server CPU microseconds per message of each batch. */
async function measure(dir: string, allowResponses: boolean, total: number): Promise<number[]> {
  const perBatch = Math.floor(total / BATCHES);
  const ns = namespace("bench");
  const passwords = writeNewCredentials(path.join(dir, "creds"));
  let block = authorizationBlock(ns, passwords);
  if (allowResponses) block = block.replaceAll("} } }", "}, allow_responses: true } }");
  const server = await startNatsServer({ dir: path.join(dir, "nats"), authorization: block });
  const conns: NatsConnection[] = [];
  try {
    const operator = await connectNats({ url: server.url, token: roleSecret("operator", passwords.operator) });
    const worker = await connectNats({ url: server.url, token: roleSecret("worker", passwords.worker) });
    conns.push(operator, worker);
    let received = 0;
    worker.subscribe("bench.work", {
      callback: () => {
        received++;
      },
    });
    await worker.flush();
    const payload = new Uint8Array(200);
    const perMessage: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const cpu0 = cpuSeconds(server.pid);
      const want = received + perBatch;
      for (let i = 0; i < perBatch; i++) {
        operator.publish("bench.work", payload, { reply: `_INBOX.bench.${b}.${i}` });
        if (i % 500 === 499) await operator.flush();
      }
      await operator.flush();
      await pollUntil(() => (received >= want ? true : undefined), { what: "the batch delivered", timeoutMs: 120_000, everyMs: 5 });
      perMessage.push((1e6 * (cpuSeconds(server.pid) - cpu0)) / perBatch);
    }
    return perMessage;
  } finally {
    for (const c of conns) await c.close().catch(() => undefined);
    await server.stop();
  }
}

const root = mkdtempSync(path.join(os.tmpdir(), "troupe-bench-nats-roles-"));
try {
  const results: Record<string, { messages: number; perMessageUs: number[]; growth: number }> = {};
  for (const [name, allow, total] of [
    ["asConfigured", false, messages],
    ["withAllowResponses", true, SHOWN],
  ] as const) {
    const us = await measure(path.join(root, name), allow, total);
    const growth = us[us.length - 1]! / us[0]!;
    results[name] = { messages: total, perMessageUs: us.map((x) => Math.round(x * 100) / 100), growth: Math.round(growth * 100) / 100 };
    console.log(
      `${name}: nats-server CPU per message, batch by batch (${total / BATCHES} each): ${us.map((x) => x.toFixed(2)).join(" ")} µs; ` +
        `last / first ${growth.toFixed(2)}`,
    );
  }
  const growth = results.asConfigured!.growth;
  console.log(
    `target: as configured, the last batch's cost per message at most ${TARGET}× the first's: ${growth <= TARGET ? "met" : "not met"}`,
  );
  console.log(
    JSON.stringify({
      bench: "nats-roles",
      figures: { batches: BATCHES, ...results },
      targets: { perMessageGrowth: { op: "<=", value: TARGET, actual: growth, met: growth <= TARGET } },
    }),
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
