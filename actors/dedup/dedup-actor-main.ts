// Entry point of a fuzzy-dedup actor process, started by a host agent for the dedup coordinator:
//   node --import tsx actors/dedup/dedup-actor-main.ts --role signature|reducer
// A signature actor computes MinHash band keys of document shards and verifies candidate pairs; a
// reducer turns the band entries routed to it into candidate pairs. Both heartbeat as supervised actors.
import type { z } from "zod";
import { ActorProcess, actorEnvironment } from "../../runtime/actor-process.ts";
import { parseWith, serve } from "../../runtime/rpc.ts";
import {
  dedupSubject,
  readyRequestSchema,
  reduceRequestSchema,
  signaturesRequestSchema,
  verifyRequestSchema,
  type DedupRole,
  type DedupVerb,
  type ReadyReply,
} from "./dedup-actor-protocol.ts";
import { ShardCache, reduceTask, signaturesTask, verifyTask } from "./dedup-tasks.ts";

const i = process.argv.indexOf("--role");
const role = process.argv[i + 1];
if (i < 0 || (role !== "signature" && role !== "reducer")) throw new Error("usage: dedup-actor-main.ts --role signature|reducer");

const actor = new ActorProcess(actorEnvironment());
await actor.start();
const nc = actor.connection;
const on = <S extends z.ZodType>(verb: DedupVerb, schema: S, handle: (req: z.output<S>) => unknown): void => {
  serve<z.output<S>>(nc, { subject: dedupSubject(actor.ns, actor.env.actorId, verb), parse: parseWith(schema), handle });
};
on("ready", readyRequestSchema, (): ReadyReply => ({ pid: process.pid, role: role as DedupRole }));
if (role === "signature") {
  const cache = new ShardCache();
  on("signatures", signaturesRequestSchema, (req) => signaturesTask(req));
  on("verify", verifyRequestSchema, (req) => verifyTask(req, cache));
} else {
  on("reduce", reduceRequestSchema, (req) => reduceTask(req));
}
await nc.flush();
actor.log.info({ role }, "dedup actor ready");
process.once("SIGTERM", () => {
  void actor.stop().finally(() => process.exit(0));
});
