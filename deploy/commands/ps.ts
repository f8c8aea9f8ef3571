// `troupe ps`: every actor of the cluster, dead ones included.
import type { Command } from "commander";
import type { ActorRecord } from "../../runtime/types.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";
import { actorTable, hostTable } from "../cluster/format.ts";

export function register(program: Command): void {
  const cmd = program
    .command("ps")
    .description("list every actor (dead ones too): id, coordinates, host, pid, state, restarts, step, heartbeat age")
    .option("-w, --watch", "keep the table updated as records change (Ctrl-C to stop); with --json, one line per change")
    .option("--hosts", "list the registered hosts (name, slots, tier, running actors, last seen) instead");
  addClusterOptions(cmd).action(async (opts: ClusterOptions & { watch?: boolean; hosts?: boolean }) => {
    await withCluster(opts, async (c) => {
      if (opts.hosts) {
        const hosts = await c.registry.listHosts();
        if (opts.json) console.log(JSON.stringify(hosts));
        else console.log(hosts.length ? hostTable(hosts) : "no hosts");
        return;
      }
      if (!opts.watch) {
        const records = await c.registry.listActors();
        if (opts.json) console.log(JSON.stringify(records));
        else console.log(records.length ? actorTable(records) : "no actors");
        return;
      }
      const current = new Map<string, ActorRecord>();
      const ctl = new AbortController();
      process.once("SIGINT", () => ctl.abort());
      const render = () => {
        const rows = [...current.values()].sort((a, b) => a.id.localeCompare(b.id));
        process.stdout.write("\x1b[2J\x1b[H" + actorTable(rows) + "\n");
      };
      // Heartbeat ages move even when no record changes.
      const timer = opts.json ? undefined : setInterval(render, 1000);
      try {
        await c.registry.watchActors((rec) => {
          current.set(rec.id, rec);
          if (opts.json) console.log(JSON.stringify(rec));
          else render();
        }, ctl.signal);
      } finally {
        clearInterval(timer);
      }
    });
  });
}
