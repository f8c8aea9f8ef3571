import { describe, expect, it } from "vitest";
import { detagDocument, detagSentence, loadBrownCorpus, splitDocuments, stripTag } from "../../ml/data/mod.ts";

describe("Brown corpus detagging", () => {
  it("strips tags and joins punctuation and quotes on a real line (ca01)", () => {
    const line =
      "\t``/`` Only/rb a/at relative/jj handful/nn of/in such/jj reports/nns was/bedz received/vbn ''/'' ,/, the/at jury/nn said/vbd ,/, ``/`` considering/in the/at widespread/jj interest/nn in/in the/at election/nn ''/'' ./.";
    expect(detagSentence(line)).toBe(
      '"Only a relative handful of such reports was received", the jury said, "considering the widespread interest in the election".',
    );
  });

  it("attaches brackets and keeps dashes, possessives and words containing slashes (cj07, constructed)", () => {
    const cj07 =
      "\tWhipple/np (/( 1955/cd )/) extends/vbz the/at effects/nns to/to include/vb the/at solar-corpuscular-radiation/nn pressure/nn ,/, which/wdt increases/vbz both/abx the/at minimum/jj particle/nn size/nn and/cc the/at drag/nn ./.";
    expect(detagSentence(cj07)).toBe(
      "Whipple (1955) extends the effects to include the solar-corpuscular-radiation pressure, which increases both the minimum particle size and the drag.",
    );
    expect(detagSentence("it/pps --/-- Atlanta's/np$ 1/2/cd ;/.")).toBe("it -- Atlanta's 1/2;");
    expect(stripTag("Jr./np")).toBe("Jr.");
    expect(stripTag("./")).toBe(".");
  });

  it("keeps paragraphs: sentences of one block joined by a space, blocks by a blank line", () => {
    const tagged = "\n\n\tIt/pps rained/vbd ./.\n\tWe/ppss left/vbd ./.\n\n\n\tThe/at end/nn ./.\n";
    expect(detagDocument(tagged)).toBe("It rained. We left.\n\nThe end.");
  });

  it("loads 500 documents in 15 genres with no tags left", () => {
    const docs = loadBrownCorpus();
    expect(docs).toHaveLength(500);
    expect(new Set(docs.map((d) => d.genre)).size).toBe(15);
    expect(docs[0]!.id).toBe("ca01");
    expect(docs[0]!.genre).toBe("news");
    expect(docs[0]!.text.startsWith("The Fulton County Grand Jury said Friday an investigation of Atlanta's")).toBe(true);
    for (const d of docs) expect(d.text).not.toMatch(/\w\/(nns?|at|in|vbd|jj|cc)\s/);
  });
});

describe("validation split", () => {
  const docs = loadBrownCorpus().map((d) => ({ ...d, text: "" }));

  it("holds out a fixed number per genre, deterministically by seed", () => {
    const a = splitDocuments(docs, { validPerGenre: 2, seed: 7 });
    const b = splitDocuments([...docs].reverse(), { validPerGenre: 2, seed: 7 });
    const c = splitDocuments(docs, { validPerGenre: 2, seed: 8 });
    expect(a.valid).toHaveLength(30);
    expect(a.train).toHaveLength(470);
    expect(a.valid.map((d) => d.id).sort()).toEqual(b.valid.map((d) => d.id).sort());
    expect(a.valid.map((d) => d.id)).not.toEqual(c.valid.map((d) => d.id));
    const perGenre = new Map<string, number>();
    for (const d of a.valid) perGenre.set(d.genre, (perGenre.get(d.genre) ?? 0) + 1);
    expect([...perGenre.values()].every((n) => n === 2)).toBe(true);
    const trainIds = new Set(a.train.map((d) => d.id));
    expect(a.valid.some((d) => trainIds.has(d.id))).toBe(false);
  });

  it("rejects duplicate ids and bad counts", () => {
    expect(() => splitDocuments([docs[0]!, docs[0]!])).toThrow(/appears twice/);
    expect(() => splitDocuments(docs, { validPerGenre: -1 })).toThrow(/validPerGenre/);
  });
});
