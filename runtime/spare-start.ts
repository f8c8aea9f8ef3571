// The actor side of warm spares (runtime/agent/spare-pool.ts). A host agent may start an actor's command line
// ahead of need, with TROUPE_SPARE=1: the process loads its modules (the slow part of a start: node, the TS
// loader, the import graph, the native addon) and then waits here until the agent hands it an identity, the
// environment a normal start would have had, as one JSON line on stdin. Without TROUPE_SPARE this returns at once.
import { SpareIdentityError } from "./errors.ts";
import { createInterface } from "node:readline";

/** Environment variable that marks a process as a spare waiting for its identity. */
export const SPARE_ENV = "TROUPE_SPARE";

/**
 * In a spare: waits for the identity line and puts its variables into process.env. Resolves false when stdin closes
 * without one (the agent let the spare go): the caller exits quietly.
 */
export async function awaitSpareIdentity(input: NodeJS.ReadableStream = process.stdin): Promise<boolean> {
  if (process.env[SPARE_ENV] !== "1") return true;
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const env = parseIdentity(line);
      delete process.env[SPARE_ENV];
      Object.assign(process.env, env);
      return true;
    }
    return false;
  } finally {
    lines.close();
  }
}

function parseIdentity(line: string): Record<string, string> {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    throw new SpareIdentityError(`spare: the identity line is not JSON: ${line.slice(0, 80)}`);
  }
  const env = (msg as { env?: unknown } | null)?.env;
  if (typeof env !== "object" || env === null || Object.values(env).some((v) => typeof v !== "string")) {
    throw new SpareIdentityError(`spare: the identity line has no { env: { NAME: "value", … } }: ${line.slice(0, 80)}`);
  }
  return env as Record<string, string>;
}
