// Plain-text rendering for the CLI: tables and ages.
import type { ActorRecord, HostRecord } from "../../runtime/types.ts";

export function age(ms: number | null, now = Date.now()): string {
  if (ms === null) return "-";
  const s = Math.max(0, now - ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.floor(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, k) => c.padEnd(widths[k]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function coords(c: Record<string, number>): string {
  const parts = Object.entries(c).map(([k, v]) => `${k}${v}`);
  return parts.length ? parts.join(",") : "-";
}

/**
 * An xstate state value as one word: "stepping" stays, { draining: "flush" } becomes "draining.flush",
 * parallel regions are joined with "|".
 */
export function phaseName(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) =>
        v === null || v === undefined || (typeof v === "object" && Object.keys(v).length === 0) ? k : `${k}.${phaseName(v)}`,
      )
      .join("|");
  }
  return "-";
}

/**
 * One row per actor. `phases` (actor id → the actor's own lifecycle state, e.g. a worker's
 * "stepping") adds a PHASE column beside the supervisor's STATE, only when some actor has one.
 */
export function actorTable(records: ActorRecord[], now = Date.now(), phases: ReadonlyMap<string, string> = new Map()): string {
  const withPhase = records.some((r) => phases.has(r.id));
  return table(
    ["ACTOR", "COORDS", "HOST", "PID", "STATE", ...(withPhase ? ["PHASE"] : []), "RESTARTS", "STEP", "HEARTBEAT"],
    records.map((r) => [
      r.id,
      coords(r.coords),
      r.host ?? "-",
      r.pid === null ? "-" : String(r.pid),
      r.state,
      ...(withPhase ? [phases.get(r.id) ?? "-"] : []),
      String(r.restarts),
      String(r.step),
      r.state === "dead" ? "-" : age(r.lastHeartbeat, now),
    ]),
  );
}

export function hostTable(hosts: HostRecord[], now = Date.now()): string {
  return table(
    ["HOST", "SLOTS", "TIER", "AGENT PID", "RUNNING", "LAST SEEN"],
    hosts.map((h) => [h.name, String(h.slots), h.tier, String(h.pid), h.running.join(",") || "-", age(h.lastSeen, now)]),
  );
}
