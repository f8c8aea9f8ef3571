import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeAs, exitReportSchema } from "./messages.ts";
import type { Namespace } from "./namespace.ts";

// The line of a crashed worker's stderr that names the error. Node prints the thrown error near the
// top and its own version last, so the last line alone rarely explains a crash.
export function crashLine(stderrTail: string): string | undefined {
  const lines = stderrTail.split("\n").map((l) => l.trim());
  const line = lines.find((l) => /^([A-Z]\w*)?Error\b.*:/.test(l) || /^\w+Error \[/.test(l));
  return line?.slice(0, 300);
}

/**
 * Remembers, per worker in `ids`, the error line of its stderr from the host agents' exit reports, so a failure
 * can be explained by what the process printed (an exit report and the supervisor's transition arrive in either order).
 */
export function collectCrashLines(nc: NatsConnection, ns: Namespace, ids: ReadonlySet<string>, into: Map<string, string>): Subscription {
  return nc.subscribe(ns.exitsFilter, {
    callback: (err, m) => {
      const r = err ? undefined : decodeAs(m.data, exitReportSchema);
      const line = r?.ok && ids.has(r.value.actorId) ? crashLine(r.value.stderrTail) : undefined;
      if (r?.ok && line) into.set(r.value.actorId, line);
    },
  });
}
