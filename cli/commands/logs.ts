// `troupe logs <actor>`: the actor's stdout and stderr lines as its host agent captured them. Structured (pino JSON)
// lines are shown readable by default (time, level, message, fields on one line, with pino-pretty); --json prints
// every line as captured.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { UnknownActorError } from "../../runtime/errors.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";

export function register(program: Command): void {
  const cmd = program
    .command("logs")
    .description(summaryOf("logs"))
    .argument("<actor>", "actor id (see `troupe ps`)")
    .option("-f, --follow", "keep printing new lines (Ctrl-C to stop)")
    .option("-n, --last <n>", "only the last N lines");
  addClusterOptions(cmd).action(async (actor: string, opts: ClusterOptions & { follow?: boolean; last?: string }) => {
    const last = opts.last === undefined ? undefined : Number(opts.last);
    if (last !== undefined && (!Number.isInteger(last) || last < 1))
      throw new UsageError(`--last must be a positive integer, got '${opts.last}'`);
    const show = opts.json ? (l: string) => JSON.stringify({ actor, line: l }) : await readable();
    await withCluster(opts, async (c) => {
      if (!(await c.registry.getActor(actor))) throw new UnknownActorError(actor);
      const ctl = new AbortController();
      process.once("SIGINT", () => ctl.abort());
      await c.events.readLogs(actor, { follow: !!opts.follow, last, signal: ctl.signal }, (l) => console.log(show(l)));
    });
  });
}

/** A pino JSON line as "[12:01:02.345] INFO: message {fields}"; any other line as it is. */
async function readable(): Promise<(line: string) => string> {
  const { prettyFactory } = await import("pino-pretty");
  const pretty = prettyFactory({
    colorize: process.stdout.isTTY === true,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
  });
  return (line) => {
    if (!line.startsWith("{")) return line;
    try {
      return pretty(line).trimEnd();
    } catch {
      return line;
    }
  };
}
