// Accumulates one stage's removals (grouped by reason, a few examples each) into a StageReport.
import type { CurationDoc, RemovalReason, StageReport } from "./types.ts";
import { excerpt, utf8Bytes } from "./text-util.ts";

const EXAMPLES_PER_REASON = 3;

export class StageTally {
  private readonly reasons = new Map<string, RemovalReason>();
  private readonly started = performance.now();
  readonly details: Record<string, unknown> = {};

  constructor(
    readonly stage: string,
    private readonly input: readonly CurationDoc[],
  ) {}

  /** Record that `bytes` of `doc` (the whole document by default) went away for `reason`. */
  remove(doc: CurationDoc, reason: string, opts: { bytes?: number; note?: string; text?: string } = {}): void {
    let entry = this.reasons.get(reason);
    if (!entry) {
      entry = { reason, docs: 0, bytes: 0, examples: [] };
      this.reasons.set(reason, entry);
    }
    const partial = opts.bytes !== undefined;
    if (!partial) entry.docs += 1;
    entry.bytes += opts.bytes ?? utf8Bytes(doc.text);
    if (entry.examples.length < EXAMPLES_PER_REASON) {
      const example = { id: doc.id, excerpt: excerpt(opts.text ?? doc.text) };
      entry.examples.push(opts.note ? { ...example, note: opts.note } : example);
    }
  }

  finish(output: readonly CurationDoc[]): StageReport {
    let bytesIn = 0;
    for (const d of this.input) bytesIn += utf8Bytes(d.text);
    let bytesOut = 0;
    for (const d of output) bytesOut += utf8Bytes(d.text);
    return {
      stage: this.stage,
      docsIn: this.input.length,
      bytesIn,
      docsOut: output.length,
      bytesOut,
      removed: [...this.reasons.values()],
      details: this.details,
      seconds: (performance.now() - this.started) / 1000,
    };
  }
}
