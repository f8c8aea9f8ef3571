// Human-readable renderings of the stage reports: a full text report and a short terminal summary.
import type { StageReport } from "./types.ts";

function formatBytes(n: number): string {
  if (Math.abs(n) < 1000) return `${n} B`;
  if (Math.abs(n) < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}

/** One line per stage: documents and bytes in → out, and what was removed. */
export function formatSummary(reports: readonly StageReport[]): string {
  const rows = reports.map((r) => {
    const removedDocs = r.removed.reduce((s, x) => s + x.docs, 0);
    const removedBytes = r.removed.reduce((s, x) => s + x.bytes, 0);
    return [
      r.stage,
      `${r.docsIn} → ${r.docsOut} docs`,
      `${formatBytes(r.bytesIn)} → ${formatBytes(r.bytesOut)}`,
      removedDocs || removedBytes ? `removed ${removedDocs} docs, ${formatBytes(removedBytes)}` : "removed nothing",
      `${r.seconds.toFixed(2)} s`,
    ];
  });
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => r[c]!.length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function formatDetail(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The full report: per stage, the counts, each removal reason with examples, and the stage's figures. */
export function formatReport(reports: readonly StageReport[]): string {
  const out: string[] = ["troupe data: curation report", "", formatSummary(reports), ""];
  for (const r of reports) {
    out.push(`== ${r.stage} ==`);
    out.push(`documents ${r.docsIn} → ${r.docsOut}; bytes ${r.bytesIn} → ${r.bytesOut}`);
    for (const reason of r.removed) {
      out.push(`- ${reason.reason}: ${reason.docs} docs, ${formatBytes(reason.bytes)}`);
      for (const ex of reason.examples) out.push(`    ${ex.id}${ex.note ? ` [${ex.note}]` : ""}: ${ex.excerpt}`);
    }
    for (const [key, value] of Object.entries(r.details)) {
      if (Array.isArray(value) && value.length > 0 && typeof value[0] === "object") {
        out.push(`  ${key}:`);
        for (const row of value) out.push(`    ${formatDetail(row)}`);
      } else out.push(`  ${key}: ${formatDetail(value)}`);
    }
    out.push("");
  }
  return out.join("\n");
}
