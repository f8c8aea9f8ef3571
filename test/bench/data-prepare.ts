// Data preparation speed on the full Brown corpus (one core): BPE training time, encode throughput
// beside Hugging Face's Rust tokenizer loading our tokenizer.json in the same run, sampler
// throughput, and prepareData cold (build) vs warm (cache hit) time.
// Usage: npm run bench -- data-prepare [--vocab N]   (default 8192)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Tokenizer as HfTokenizer } from "tokenizers";
import { BpeTokenizer, countPieces, loadBrownCorpus, prepareData, sampleBatch, saveTokenizer, trainBpe } from "../../ml/data/mod.ts";

const vocabArg = process.argv.indexOf("--vocab");
const vocabSize = vocabArg > 0 ? Number(process.argv[vocabArg + 1]) : 8192;
const seconds = (t0: number) => (performance.now() - t0) / 1000;
const dir = mkdtempSync(path.join(tmpdir(), "troupe-bench-data-"));

try {
  let t = performance.now();
  const docs = loadBrownCorpus();
  const texts = docs.map((d) => d.text);
  const chars = texts.reduce((n, s) => n + s.length, 0);
  const loadS = seconds(t);
  console.log(`load Brown: ${docs.length} documents, ${(chars / 1e6).toFixed(2)} M characters in ${loadS.toFixed(2)} s`);

  t = performance.now();
  const model = trainBpe(countPieces(texts), { vocabSize: vocabSize - 1 });
  const trainS = seconds(t);
  const tokenizer = BpeTokenizer.fromModel(model);
  console.log(`train BPE to ${tokenizer.vocabSize} tokens (${model.merges.length} merges) in ${trainS.toFixed(2)} s`);

  t = performance.now();
  let tokens = 0;
  const fresh = BpeTokenizer.fromModel(model); // empty piece cache, as a new process would have
  const ours: number[][] = [];
  for (const s of texts) {
    const ids = fresh.encode(s);
    tokens += ids.length;
    ours.push(ids);
  }
  const oursS = seconds(t);
  const file = path.join(dir, "tokenizer.json");
  saveTokenizer(tokenizer, file);
  const hf = HfTokenizer.fromFile(file);
  t = performance.now();
  const theirs: number[][] = [];
  for (const s of texts) theirs.push((await hf.encode(s, null, { addSpecialTokens: false })).getIds());
  const hfS = seconds(t);
  const hfTokens = theirs.reduce((n, ids) => n + ids.length, 0);
  const differing = ours.filter((ids, i) => ids.length !== theirs[i]!.length || ids.some((id, j) => id !== theirs[i]![j])).length;
  console.log(`documents whose ids differ from Hugging Face's: ${differing} of ${texts.length}`);
  console.log(
    `encode corpus: ours ${(chars / oursS / 1e6).toFixed(2)} M chars/s, Hugging Face ${(chars / hfS / 1e6).toFixed(2)} M chars/s (${tokens} vs ${hfTokens} tokens)`,
  );

  t = performance.now();
  const prepared = await prepareData({ cacheDir: dir, vocabSize });
  const coldS = seconds(t);
  t = performance.now();
  const warm = await prepareData({ cacheDir: dir, vocabSize });
  const warmS = seconds(t);
  console.log(
    `prepareData: cold ${coldS.toFixed(2)} s, warm ${warmS.toFixed(2)} s (cache hit ${warm.cacheHit}); ${prepared.train.tokenCount} train / ${prepared.valid.tokenCount} valid tokens`,
  );
  console.log(
    `unigram cross-entropy of validation tokens: ${prepared.unigramEntropyBits.toFixed(3)} bits = ${prepared.unigramEntropyNats.toFixed(3)} nats per token`,
  );

  const seqLen = 256;
  const count = 64;
  t = performance.now();
  let sampled = 0;
  for (let b = 0; b < 50; b++) sampled += sampleBatch(warm.train, { seqLen, seed: 1, firstSample: b * count, count }).inputs.length;
  const sampleS = seconds(t);
  console.log(`sampleBatch: ${(sampled / sampleS / 1e6).toFixed(1)} M tokens/s (seqLen ${seqLen}, batch ${count})`);

  const encodeRatio = hfS / oursS;
  console.log(
    JSON.stringify({
      bench: "data-prepare",
      figures: {
        vocabSize: tokenizer.vocabSize,
        corpusChars: chars,
        bpeTrainSeconds: trainS,
        encodeCharsPerSecond: chars / oursS,
        hfEncodeCharsPerSecond: chars / hfS,
        prepareColdSeconds: coldS,
        prepareWarmSeconds: warmS,
        sampleTokensPerSecond: sampled / sampleS,
        unigramEntropyBits: prepared.unigramEntropyBits,
        documentsDifferingFromHuggingFace: differing,
      },
      targets: {
        documentsDifferingFromHuggingFace: { op: "<=", value: 0, actual: differing, met: differing === 0 },
        bpeTrainSeconds: { op: "<=", value: 30, actual: trainS, met: trainS <= 30 },
        warmOverColdPrepare: { op: "<=", value: 0.25, actual: warmS / coldS, met: warmS / coldS <= 0.25 },
        encodeSpeedVsHuggingFace: { op: ">=", value: 0.25, actual: encodeRatio, met: encodeRatio >= 0.25 },
      },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
