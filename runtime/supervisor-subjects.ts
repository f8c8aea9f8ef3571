// What a running supervisor listens to: the heartbeats and exit reports of its children's namespace,
// operator restarts, and the host agents' ping (runtime/agent/orphan-sweep.ts).
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import type { Namespace } from "./namespace.ts";
import { parseWith, serve } from "./rpc.ts";

export interface SupervisorHandlers {
  heartbeat(data: Uint8Array): void;
  exit(data: Uint8Array): void;
  restart(actorId: string, reason: string): unknown;
  /** How many children the supervisor holds, the answer to a ping. */
  children(): number;
}

/** Subscribes a supervisor to its subjects; the caller drains the subscriptions when it stops. */
export function superviseSubjects(nc: NatsConnection, ns: Namespace, id: string, h: SupervisorHandlers): Subscription[] {
  return [
    nc.subscribe(ns.heartbeatsFilter, { callback: (err, m) => void (err || h.heartbeat(m.data)) }),
    nc.subscribe(ns.exitsFilter, { callback: (err, m) => void (err || h.exit(m.data)) }),
    serve<{ actorId: string; reason?: string }>(nc, {
      subject: ns.supervisorSubject(id, "restart"),
      parse: parseWith(z.object({ actorId: z.string(), reason: z.string().optional() })),
      handle: (req) => h.restart(req.actorId, req.reason ?? "operator restart"),
    }),
    serve<unknown>(nc, {
      subject: ns.supervisorSubject(id, "ping"),
      parse: () => ({ ok: true, value: null }),
      handle: () => ({ children: h.children() }),
    }),
  ];
}
