// Synthetic low-quality text made from real documents, for training the quality classifier when
// no curated negatives are at hand: word salad, keyword stuffing, and navigation-style boilerplate.
import { SeededRandom } from "../data/seeded-random.ts";

export type CorruptionKind = "shuffled" | "stuffed" | "boilerplate";
export const CORRUPTION_KINDS: readonly CorruptionKind[] = ["shuffled", "stuffed", "boilerplate"];

const NAV = [
  "Home",
  "About us",
  "Contact",
  "Login",
  "Sign up",
  "Privacy policy",
  "Terms",
  "Click here",
  "Buy now",
  "Free shipping",
  "Subscribe",
  "Share",
];

export function corrupt(text: string, kind: CorruptionKind, seed: number): string {
  const rng = new SeededRandom(seed);
  const words = text.split(/\s+/).filter(Boolean);
  switch (kind) {
    case "shuffled":
      return rng.shuffle(words).join(" ");
    case "stuffed": {
      const pool = words.filter((w) => /^\w{5,}$/.test(w)).slice(0, 8);
      const keys = pool.length > 0 ? pool : ["deal"];
      return Array.from({ length: Math.max(40, words.length / 2) }, () => keys[rng.nextInt(keys.length)]!.toLowerCase()).join(", ");
    }
    case "boilerplate": {
      const lines: string[] = [];
      for (let i = 0; i < Math.max(8, words.length / 12); i++) {
        const nav = Array.from({ length: 4 }, () => NAV[rng.nextInt(NAV.length)]!).join(" | ");
        lines.push(`${nav} | ${words[rng.nextInt(words.length)] ?? ""}`);
      }
      return lines.join("\n");
    }
  }
}
