// `troupe kill <actor>`: fault injection — send a signal to the actor's process through its host agent.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import { constants } from "node:os";
import type { Command } from "commander";
import { randomUUID } from "node:crypto";
import { UnknownActorError } from "../../runtime/errors.ts";
import { call } from "../../runtime/rpc.ts";
import { addClusterOptions, withCluster, type ClusterOptions, type OpenCluster } from "../cluster/cluster-options.ts";

export function signalName(s: string): string {
  const name = s.toUpperCase().startsWith("SIG") ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  if (!(name in constants.signals)) throw new UsageError(`unknown signal '${s}' (try KILL, TERM, STOP, CONT)`);
  return name;
}

export function register(program: Command): void {
  const cmd = program
    .command("kill")
    .description(summaryOf("kill"))
    .argument("<actor>", "actor id (see `troupe ps`)")
    .option("-s, --signal <signal>", "signal name: KILL, TERM, STOP, CONT, …", "KILL");
  addClusterOptions(cmd).action(async (actor: string, opts: ClusterOptions & { signal: string }) => {
    const signal = signalName(opts.signal);
    await withCluster(opts, async (c) => {
      const sent = await killActor(c, actor, signal);
      if (opts.json) console.log(JSON.stringify({ actor, pid: sent.pid, host: sent.host, signal }));
      else console.log(`sent ${signal} to ${actor} (pid ${sent.pid} on ${sent.host})`);
    });
  });
}

/** Sends `signal` (a name from signalName) to the actor's process through its host agent and records an operator.kill event. */
export async function killActor(c: OpenCluster, actor: string, signal: string, by?: string): Promise<{ pid: number; host: string }> {
  const rec = await c.registry.getActor(actor);
  if (!rec) throw new UnknownActorError(actor);
  if (rec.pid === null || rec.host === null) throw new Error(`actor ${actor} has no running process (state ${rec.state})`);
  const reply = (await call(c.nc, c.ns.agentSubject(rec.host, "kill"), { actorId: actor, signal, pid: rec.pid })) as { pid: number };
  await c.events.publish(
    { type: "operator.kill", subject: actor, time: Date.now(), data: { signal, pid: reply.pid, host: rec.host, ...(by ? { by } : {}) } },
    randomUUID(),
  );
  return { pid: reply.pid, host: rec.host };
}
