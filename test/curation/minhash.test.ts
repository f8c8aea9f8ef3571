import { describe, expect, test } from "vitest";
import { bandKeys, candidateProbability, hashFamily, jaccard, shingleHashes, shingleSet, signature } from "../../ml/curation/minhash.ts";
import { SeededRandom } from "../../ml/data/seeded-random.ts";
import { UnionFind } from "../../ml/curation/union-find.ts";
import { candidatePairs } from "../../ml/curation/lsh-reduce.ts";
import { nearDuplicate, randomDoc } from "./near-duplicates.ts";

describe("shingles and jaccard", () => {
  test("5-character shingles of a short text", () => {
    expect([...shingleSet("abcdefg", 5)]).toEqual(["abcde", "bcdef", "cdefg"]);
    expect([...shingleSet("abc", 5)]).toEqual(["abc"]);
    expect(shingleHashes("abcdefg", 5).length).toBe(3);
    expect(shingleHashes("aaaaaaaa", 5).length).toBe(1); // repeats collapse
  });

  test("exact jaccard by hand", () => {
    // {abcde, bcdef} vs {bcdef, cdefg}: 1 shared of 3
    expect(jaccard(shingleSet("abcdef", 5), shingleSet("bcdefg", 5))).toBeCloseTo(1 / 3, 12);
    expect(jaccard(shingleSet("hello world", 5), shingleSet("hello world", 5))).toBe(1);
  });
});

describe("minhash", () => {
  test("the fraction of equal signature values estimates jaccard", () => {
    const rng = new SeededRandom(3);
    const family = hashFamily(260, 1);
    for (const target of [0.3, 0.6, 0.9]) {
      const a = randomDoc(rng, 300);
      const b = nearDuplicate(a, target, rng);
      const sa = signature(shingleHashes(a, 5), family);
      const sb = signature(shingleHashes(b.text, 5), family);
      let equal = 0;
      for (let i = 0; i < 260; i++) if (sa[i] === sb[i]) equal += 1;
      // binomial standard deviation at 260 draws is at most 0.031
      expect(Math.abs(equal / 260 - b.jaccard)).toBeLessThan(0.1);
    }
  });

  test("identical texts share every band key; unrelated texts share none", () => {
    const rng = new SeededRandom(4);
    const family = hashFamily(260, 1);
    const a = randomDoc(rng, 200);
    const c = randomDoc(rng, 200);
    const ka = bandKeys(signature(shingleHashes(a, 5), family), 20, 13);
    const kb = bandKeys(signature(shingleHashes(`${a}`, 5), family), 20, 13);
    const kc = bandKeys(signature(shingleHashes(c, 5), family), 20, 13);
    expect([...ka]).toEqual([...kb]);
    expect([...ka].filter((k, i) => k === kc[i]).length).toBe(0);
    for (const k of ka) expect(Number.isSafeInteger(k)).toBe(true);
  });

  test("candidate probability 1-(1-J^13)^20 at the values the paper notes quote", () => {
    expect(candidateProbability(0.8, 20, 13)).toBeCloseTo(0.68, 2);
    expect(candidateProbability(0.9, 20, 13)).toBeCloseTo(0.997, 3);
    expect(candidateProbability(0.5, 20, 13)).toBeCloseTo(0.0024, 3);
  });
});

describe("lsh reducer and union-find", () => {
  test("documents sharing a key in the same band pair up; equal keys in different bands do not", () => {
    const entries = {
      band: Uint16Array.from([0, 0, 0, 1, 1, 2]),
      key: Float64Array.from([7, 7, 9, 9, 9, 7]),
      doc: Uint32Array.from([5, 1, 2, 4, 2, 3]),
    };
    expect([...candidatePairs(entries)]).toEqual([1, 5, 2, 4]);
  });

  test("union-find joins chains into one component", () => {
    const uf = new UnionFind(6);
    uf.union(0, 3);
    uf.union(3, 5);
    uf.union(1, 2);
    expect(uf.groups()).toEqual([
      [0, 3, 5],
      [1, 2],
    ]);
  });
});
