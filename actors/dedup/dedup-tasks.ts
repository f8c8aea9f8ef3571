// What a fuzzy-dedup actor does with one request: files in, files out. Long loops yield to the event
// loop now and then so the actor's heartbeats keep flowing while it computes.
import { bandKeys, hashFamily, jaccard, shingleHashes, shingleSet, signature } from "../../ml/curation/minhash.ts";
import { candidatePairs, type BandEntries } from "../../ml/curation/lsh-reduce.ts";
import { readBandEntries, readPairs, readShard, writeBandEntries, writePairs, writeSims } from "./dedup-files.ts";
import type { ReduceReply, ReduceRequest, SignaturesReply, SignaturesRequest, VerifyReply, VerifyRequest } from "./dedup-actor-protocol.ts";

const YIELD_MS = 20;

/** Calls `tick()` between work items; it yields once `YIELD_MS` of work has passed. */
function yielder(): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    if (performance.now() - last < YIELD_MS) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        last = performance.now();
        resolve();
      }),
    );
  };
}

export async function signaturesTask(req: SignaturesRequest): Promise<SignaturesReply> {
  const texts = readShard(req.shard.file);
  const { shingle, bands, rows, seed } = req.params;
  const family = hashFamily(bands * rows, seed);
  const keys = new Float64Array(texts.length * bands);
  const sig = new Uint32Array(bands * rows);
  const tick = yielder();
  for (let i = 0; i < texts.length; i++) {
    signature(shingleHashes(texts[i]!, shingle), family, sig);
    bandKeys(sig, bands, rows, keys, i * bands);
    await tick();
  }
  // route every (band, key, doc) to reducer key mod R, as the single-process version does
  const R = req.reducers;
  const counts = new Array<number>(R).fill(0);
  for (let i = 0; i < keys.length; i++) counts[keys[i]! % R]! += 1;
  const routed: BandEntries[] = counts.map((c) => ({ band: new Uint16Array(c), key: new Float64Array(c), doc: new Uint32Array(c) }));
  const fill = new Array<number>(R).fill(0);
  for (let i = 0; i < keys.length; i++) {
    const r = keys[i]! % R;
    const at = fill[r]!++;
    routed[r]!.band[at] = i % bands;
    routed[r]!.key[at] = keys[i]!;
    routed[r]!.doc[at] = req.shard.base + Math.floor(i / bands);
  }
  const files = routed.map((entries, r) => {
    const file = `${req.outPrefix}.r${r}.band`;
    writeBandEntries(file, entries);
    return file;
  });
  return { files, docs: texts.length };
}

export function reduceTask(req: ReduceRequest): ReduceReply {
  const parts = req.files.map(readBandEntries);
  const total = parts.reduce((s, p) => s + p.doc.length, 0);
  const all: BandEntries = { band: new Uint16Array(total), key: new Float64Array(total), doc: new Uint32Array(total) };
  let at = 0;
  for (const p of parts) {
    all.band.set(p.band, at);
    all.key.set(p.key, at);
    all.doc.set(p.doc, at);
    at += p.doc.length;
  }
  const pairs = candidatePairs(all);
  writePairs(req.out, pairs);
  return { out: req.out, pairs: pairs.length / 2 };
}

/** Keeps the last few shards read, since consecutive verify tasks often need the same ones. */
export class ShardCache {
  private readonly shards = new Map<string, string[]>();
  constructor(private readonly capacity = 8) {}

  get(file: string): string[] {
    let texts = this.shards.get(file);
    if (texts) {
      this.shards.delete(file);
    } else {
      texts = readShard(file);
      if (this.shards.size >= this.capacity) this.shards.delete(this.shards.keys().next().value!);
    }
    this.shards.set(file, texts);
    return texts;
  }
}

export async function verifyTask(req: VerifyRequest, cache: ShardCache): Promise<VerifyReply> {
  const pairs = readPairs(req.pairsFile);
  const shards = req.shards.map((s) => ({ base: s.base, texts: cache.get(s.file) }));
  const textOf = (doc: number): string => {
    for (const s of shards) if (doc >= s.base && doc < s.base + s.texts.length) return s.texts[doc - s.base]!;
    throw new Error(`verify: no shard given holds document ${doc}`);
  };
  const sets = new Map<number, Set<string>>();
  const setOf = (doc: number): Set<string> => {
    let s = sets.get(doc);
    if (!s) sets.set(doc, (s = shingleSet(textOf(doc), req.shingle)));
    return s;
  };
  const sims = new Float64Array(pairs.length / 2);
  const tick = yielder();
  for (let p = 0; p < sims.length; p++) {
    sims[p] = jaccard(setOf(pairs[2 * p]!), setOf(pairs[2 * p + 1]!));
    await tick();
  }
  writeSims(req.out, sims);
  return { out: req.out, pairs: sims.length };
}
