// Interfaces shared by the curation stages. Implementations live in the files beside this one.

/** One document flowing through the pipeline. */
export interface CurationDoc {
  /** Stable id: `<dataset>/<source-local id>`; fragments from decontamination append `#<n>`. */
  id: string;
  dataset: string;
  /** Higher wins when near-duplicates from different datasets are resolved. */
  priority: number;
  text: string;
}

/** Why documents left a stage, how many, and a few of them. */
export interface RemovalReason {
  reason: string;
  docs: number;
  bytes: number;
  examples: RemovalExample[];
}

export interface RemovalExample {
  id: string;
  /** The first characters of the removed text (or of what was cut). */
  excerpt: string;
  /** Extra context, e.g. "kept: brown-news/ca01, jaccard 0.91". */
  note?: string;
}

/** What one stage did: counts in and out, and the removals grouped by reason. */
export interface StageReport {
  stage: string;
  docsIn: number;
  bytesIn: number;
  docsOut: number;
  bytesOut: number;
  removed: RemovalReason[];
  /** Stage-specific figures (classifier precision/recall, candidate pairs, blend epochs…). */
  details: Record<string, unknown>;
  seconds: number;
}

/** Progress callback for long stages: `done` of `total` units of `what`. */
export type ProgressFn = (stage: string, done: number, total: number) => void;
