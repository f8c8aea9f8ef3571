// Blending: each dataset is seen for a number of epochs (2.5 = two full passes plus half of the
// documents, drawn by seed) or takes a fraction of the output bytes (turned into epochs), then the
// whole blend is shuffled by seed. MT-NLG up-sampled small high-quality sets and down-sampled web text.
import { BlendError } from "./errors.ts";
import type { CurationDoc, StageReport } from "./types.ts";
import { StageTally } from "./stage-tally.ts";
import { SeededRandom } from "../data/seeded-random.ts";
import { utf8Bytes } from "./text-util.ts";

export interface BlendConfig {
  mode: "epochs" | "fractions";
  /** Dataset name → epochs (mode epochs) or share of the output bytes (mode fractions, summing to 1). */
  weights: Record<string, number>;
  /** Output size in mode fractions; defaults to the size of all curated datasets together. */
  totalBytes?: number;
  seed: number;
}

/** Epochs per dataset from the configured weights and the curated dataset sizes. */
export function blendEpochs(bytesByDataset: ReadonlyMap<string, number>, config: BlendConfig): Map<string, number> {
  const epochs = new Map<string, number>();
  if (config.mode === "epochs") {
    for (const name of bytesByDataset.keys()) epochs.set(name, config.weights[name] ?? 1);
    return epochs;
  }
  const sum = Object.values(config.weights).reduce((s, w) => s + w, 0);
  if (Math.abs(sum - 1) > 1e-6) throw new BlendError(`blend fractions must sum to 1, they sum to ${sum}`);
  let all = 0;
  for (const b of bytesByDataset.values()) all += b;
  const total = config.totalBytes ?? all;
  for (const [name, bytes] of bytesByDataset) {
    const f = config.weights[name];
    if (f === undefined) throw new BlendError(`dataset "${name}" has no blend fraction`);
    if (f > 0 && bytes === 0) throw new BlendError(`dataset "${name}" has fraction ${f} but no documents left after curation`);
    epochs.set(name, bytes === 0 ? 0 : (f * total) / bytes);
  }
  return epochs;
}

export function blend(docs: readonly CurationDoc[], config: BlendConfig): { docs: CurationDoc[]; report: StageReport } {
  const tally = new StageTally("blend", docs);
  // Datasets named in the weights but emptied by earlier stages still count (and may fail loudly).
  const byDataset = new Map<string, CurationDoc[]>(Object.keys(config.weights).map((name) => [name, []]));
  for (const d of docs) {
    let list = byDataset.get(d.dataset);
    if (!list) byDataset.set(d.dataset, (list = []));
    list.push(d);
  }
  const bytes = new Map([...byDataset].map(([name, list]) => [name, list.reduce((s, d) => s + utf8Bytes(d.text), 0)]));
  const epochs = blendEpochs(bytes, config);
  const rng = new SeededRandom(config.seed);
  const out: CurationDoc[] = [];
  const table: Array<Record<string, unknown>> = [];
  for (const [name, list] of byDataset) {
    const e = epochs.get(name)!;
    const whole = Math.floor(e);
    for (let k = 0; k < whole; k++) out.push(...list);
    const partCount = Math.round((e - whole) * list.length);
    const order = rng.shuffle(list.map((_, i) => i));
    const part = new Set(order.slice(0, partCount));
    list.forEach((d, i) => {
      if (part.has(i)) out.push(d);
      else if (whole === 0) tally.remove(d, "not sampled (dataset weight below one epoch)", { note: `${e.toFixed(3)} epochs of ${name}` });
    });
    table.push({
      dataset: name,
      docs: list.length,
      bytes: bytes.get(name),
      epochs: Number(e.toFixed(4)),
      outDocs: whole * list.length + partCount,
    });
  }
  rng.shuffle(out);
  let outBytes = 0;
  for (const d of out) outBytes += utf8Bytes(d.text);
  for (const row of table) {
    const name = row.dataset as string;
    const b = out.filter((d) => d.dataset === name).reduce((s, d) => s + utf8Bytes(d.text), 0);
    row.outBytes = b;
    row.share = outBytes === 0 ? 0 : Number((b / outBytes).toFixed(4));
  }
  Object.assign(tally.details, { mode: config.mode, datasets: table });
  return { docs: out, report: tally.finish(out) };
}
