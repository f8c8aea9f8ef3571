// Message validation: decode + zod schema + epoch fencing. Every incoming message goes through here
// so that garbage, wrong shapes and stale epochs become values, never exceptions in handlers.
import { firstIssue } from "./zod-issue.ts";
import { z } from "zod";
import { decode } from "./codec.ts";
import { CodecError, SchemaError, StaleEpochError } from "./errors.ts";

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: CodecError | SchemaError | StaleEpochError };

export function decodeAs<S extends z.ZodType>(bytes: Uint8Array, schema: S): Decoded<z.output<S>> {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    return { ok: false, error: err as CodecError };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const { path, message } = firstIssue(parsed.error, "");
    return { ok: false, error: new SchemaError(`invalid message${path ? ` at '${path}'` : ""}: ${message}`, { cause: parsed.error }) };
  }
  return { ok: true, value: parsed.data };
}

/** Like decodeAs, then rejects a message whose `epoch` is older than `currentEpoch`. */
export function decodeFenced<S extends z.ZodType<{ epoch: number }>>(
  bytes: Uint8Array,
  schema: S,
  currentEpoch: number,
): Decoded<z.output<S>> {
  const r = decodeAs(bytes, schema);
  if (r.ok && r.value.epoch < currentEpoch) return { ok: false, error: new StaleEpochError(r.value.epoch, currentEpoch) };
  return r;
}

export const heartbeatSchema = z.object({
  actorId: z.string().min(1),
  pid: z.number().int(),
  step: z.number().int(),
  epoch: z.number().int().min(0),
  time: z.number(),
});

export const spawnRequestSchema = z.object({
  actorId: z.string().min(1),
  argv: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()),
  cwd: z.string().optional(),
});

export const killRequestSchema = z.object({
  actorId: z.string().min(1),
  signal: z.string().regex(/^SIG[A-Z0-9]+$/, "signal must look like SIGKILL"),
  /** Only kill when the running process still has this pid (protects a restarted actor). */
  pid: z.number().int().optional(),
});

export type KillRequest = z.infer<typeof killRequestSchema>;

export const exitReportSchema = z.object({
  actorId: z.string(),
  pid: z.number().int(),
  host: z.string(),
  code: z.number().int().nullable(),
  signal: z.string().nullable(),
  stderrTail: z.string(),
  time: z.number(),
});

/** Commands every actor process answers (request/reply). */
export const actorCommandSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ping"), epoch: z.number().int().min(0) }),
  z.object({ type: z.literal("set-epoch"), epoch: z.number().int().min(0) }),
  z.object({ type: z.literal("set-step"), epoch: z.number().int().min(0), step: z.number().int().min(0) }),
]);
export type ActorCommand = z.infer<typeof actorCommandSchema>;

/** Standard reply envelope for requests. */
export const replySchema = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.string(), kind: z.string() }),
]);
export type Reply = z.infer<typeof replySchema>;
