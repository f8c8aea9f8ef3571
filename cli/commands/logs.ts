// `troupe logs <actor>`: the actor's stdout and stderr lines as its host agent captured them.
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { UnknownActorError } from "../../runtime/errors.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";

export function register(program: Command): void {
  const cmd = program
    .command("logs")
    .description(summaryOf("logs"))
    .argument("<actor>", "actor id (see `troupe ps`)")
    .option("-f, --follow", "keep printing new lines (Ctrl-C to stop)");
  addClusterOptions(cmd).action(async (actor: string, opts: ClusterOptions & { follow?: boolean }) => {
    await withCluster(opts, async (c) => {
      if (!(await c.registry.getActor(actor))) throw new UnknownActorError(actor);
      const ctl = new AbortController();
      process.once("SIGINT", () => ctl.abort());
      await c.events.readLogs(actor, { follow: !!opts.follow, signal: ctl.signal }, (l) => {
        console.log(opts.json ? JSON.stringify({ actor, line: l }) : l);
      });
    });
  });
}
