// `troupe events`: the cluster's durable event log (transitions, failures, escalations, commands).
import type { MalformedEvent } from "../../runtime/event-log.ts";
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import type { StoredEvent } from "../../runtime/event-log.ts";
import { addClusterOptions, withCluster, type ClusterOptions } from "../cluster/cluster-options.ts";

function line(e: StoredEvent): string {
  const data = Object.entries(e.data)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${new Date(e.time).toISOString()}  #${e.seq}  ${e.type.padEnd(22)} ${e.subject.padEnd(10)} ${data}`;
}

export function register(program: Command): void {
  const cmd = program
    .command("events")
    .description(summaryOf("events"))
    .option("-f, --follow", "keep printing new events (Ctrl-C to stop)")
    .option("--actor <id>", "only events about this actor, host or supervisor")
    .option("-n, --last <n>", "only the last N events of the stream");
  addClusterOptions(cmd).action(async (opts: ClusterOptions & { follow?: boolean; actor?: string; last?: string }) => {
    const last = opts.last === undefined ? undefined : Number(opts.last);
    if (last !== undefined && (!Number.isInteger(last) || last < 1))
      throw new UsageError(`--last must be a positive integer, got '${opts.last}'`);
    await withCluster(opts, async (c) => {
      const ctl = new AbortController();
      process.once("SIGINT", () => ctl.abort());
      const onMalformed = (m: MalformedEvent) =>
        process.stderr.write(`troupe: skipped a malformed event (#${m.seq} on ${m.subject}: ${m.reason})\n`);
      await c.events.read({ follow: !!opts.follow, about: opts.actor, last, signal: ctl.signal, onMalformed }, (e) => {
        console.log(opts.json ? JSON.stringify(e) : line(e));
      });
    });
  });
}
