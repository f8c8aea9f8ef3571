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
  const line = (cells: string[]) => cells.map((c, k) => c.padEnd(widths[k]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function coords(c: Record<string, number>): string {
  const parts = Object.entries(c).map(([k, v]) => `${k}${v}`);
  return parts.length ? parts.join(",") : "-";
}

export function actorTable(records: ActorRecord[], now = Date.now()): string {
  return table(
    ["ACTOR", "COORDS", "HOST", "PID", "STATE", "RESTARTS", "STEP", "HEARTBEAT"],
    records.map((r) => [
      r.id,
      coords(r.coords),
      r.host ?? "-",
      r.pid === null ? "-" : String(r.pid),
      r.state,
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
