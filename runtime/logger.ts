// pino loggers: one root per process, children bound to the actor id and its coordinates.
import { pino, type Logger } from "pino";
import type { Coordinates } from "./types.ts";

export type { Logger };

export function createRootLogger(opts: { name: string; level?: string; destination?: number }): Logger {
  return pino(
    { name: opts.name, level: opts.level ?? process.env.TROUPE_LOG_LEVEL ?? "info", base: { pid: process.pid } },
    pino.destination({ dest: opts.destination ?? 2, sync: true }),
  );
}

export function actorLogger(root: Logger, actorId: string, coords: Coordinates = {}): Logger {
  return root.child({ actorId, coords });
}
