// `troupe restart <actor>`: ask the actor's supervisor for a fresh process (not counted as a failure).
import type { Command } from "commander";
import { UnknownActorError } from "../../runtime/errors.ts";
import { call } from "../../runtime/rpc.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";

export function register(program: Command): void {
  const cmd = program
    .command("restart")
    .description("restart an actor through its supervisor: the old process is killed and a new one started")
    .argument("<actor>", "actor id (see `troupe ps`)");
  addClusterOptions(cmd).action(async (actor: string, opts: ClusterOptions) => {
    await withCluster(opts, async (c) => {
      const rec = await c.registry.getActor(actor);
      if (!rec) throw new UnknownActorError(actor);
      const reply = (await call(c.nc, c.ns.supervisorSubject(rec.supervisor, "restart"), { actorId: actor, reason: "operator: troupe restart" })) as {
        previousPid: number | null;
      };
      if (opts.json) console.log(JSON.stringify({ actor, supervisor: rec.supervisor, previousPid: reply.previousPid }));
      else console.log(`restarting ${actor} (supervisor ${rec.supervisor}, previous pid ${reply.previousPid ?? "-"})`);
    });
  });
}
