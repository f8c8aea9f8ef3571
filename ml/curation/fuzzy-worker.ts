// Worker-thread body of fuzzy dedup. One worker plays two roles, as an actor would:
// - signature actor: holds a shard of documents, computes MinHash signatures and band keys;
// - band reducer: receives the band entries routed to it and emits candidate pairs;
// and it verifies candidate pairs whose lower document it holds by exact Jaccard.
import { parentPort } from "node:worker_threads";
import type { FuzzyRequest, FuzzyReply } from "./fuzzy-protocol.ts";
import { bandKeys, hashFamily, jaccard, shingleHashes, shingleSet, signature } from "./minhash.ts";
import { candidatePairs } from "./lsh-reduce.ts";

if (!parentPort) throw new Error("fuzzy-worker.ts must run in a worker thread");
const port = parentPort;

let base = 0;
let texts: string[] = [];

function handle(req: FuzzyRequest): { reply: FuzzyReply; transfer: ArrayBuffer[] } {
  switch (req.op) {
    case "load":
      base = req.base;
      texts = req.texts;
      return { reply: { op: "load", docs: texts.length }, transfer: [] };
    case "signatures": {
      const { shingle, bands, rows, seed } = req.params;
      const family = hashFamily(bands * rows, seed);
      const keys = new Float64Array(texts.length * bands);
      const sig = new Uint32Array(bands * rows);
      for (let i = 0; i < texts.length; i++) {
        signature(shingleHashes(texts[i]!, shingle), family, sig);
        bandKeys(sig, bands, rows, keys, i * bands);
        if ((i + 1) % 25 === 0) port.postMessage({ op: "progress", done: i + 1 } satisfies FuzzyReply);
      }
      return { reply: { op: "signatures", base, keys }, transfer: [keys.buffer as ArrayBuffer] };
    }
    case "reduce": {
      const pairs = candidatePairs(req.entries);
      return { reply: { op: "reduce", pairs }, transfer: [pairs.buffer as ArrayBuffer] };
    }
    case "verify": {
      const cache = new Map<number, Set<string>>();
      const setOf = (doc: number): Set<string> => {
        let s = cache.get(doc);
        if (!s) {
          const text = doc >= base && doc < base + texts.length ? texts[doc - base] : req.foreign[doc];
          if (text === undefined) throw new Error(`verify: text of document ${doc} was not sent`);
          s = shingleSet(text, req.shingle);
          cache.set(doc, s);
        }
        return s;
      };
      const sims = new Float64Array(req.pairs.length / 2);
      for (let p = 0; p < sims.length; p++) sims[p] = jaccard(setOf(req.pairs[2 * p]!), setOf(req.pairs[2 * p + 1]!));
      return { reply: { op: "verify", sims }, transfer: [sims.buffer as ArrayBuffer] };
    }
  }
}

port.on("message", (req: FuzzyRequest) => {
  try {
    const { reply, transfer } = handle(req);
    port.postMessage(reply, transfer);
  } catch (err) {
    port.postMessage({ op: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
