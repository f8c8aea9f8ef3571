// Exact dedup: documents whose content hash (SHA-256 of the text) equals an earlier one's are removed.
// Among identical copies the one from the highest-priority dataset is kept, then the earliest.
import { createHash } from "node:crypto";
import type { CurationDoc, StageReport } from "./types.ts";
import { StageTally } from "./stage-tally.ts";

export function contentHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export function exactDedup(docs: readonly CurationDoc[]): { docs: CurationDoc[]; report: StageReport } {
  const tally = new StageTally("exact-dedup", docs);
  const hashes = docs.map((d) => contentHash(d.text));
  const keeper = new Map<string, number>(); // hash -> index of the kept copy
  for (let i = 0; i < docs.length; i++) {
    const h = hashes[i]!;
    const k = keeper.get(h);
    if (k === undefined || docs[i]!.priority > docs[k]!.priority) keeper.set(h, i);
  }
  const kept = new Set(keeper.values());
  const out: CurationDoc[] = [];
  for (let i = 0; i < docs.length; i++) {
    if (kept.has(i)) {
      out.push(docs[i]!);
      continue;
    }
    const winner = docs[keeper.get(hashes[i]!)!]!;
    tally.remove(docs[i]!, "identical content", { note: `kept ${winner.id}` });
  }
  tally.details.distinctHashes = keeper.size;
  return { docs: out, report: tally.finish(out) };
}
