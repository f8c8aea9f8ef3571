// Where troupe's own files are, found the same way whether this code runs from its TypeScript sources (tsx) or
// from the bundled command line (build/cli/): the folder holding troupe's package.json, searched upward.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/** The folder of troupe's package.json (the repository root). */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (existsSync(file) && (JSON.parse(readFileSync(file, "utf8")) as { name?: string }).name === "troupe") return (root = dir);
    if (path.dirname(dir) === dir) throw new Error(`troupe's package.json not found above ${fileURLToPath(import.meta.url)}`);
  }
}

/** A file of troupe's sources, e.g. sourcePath("actors/worker/main.ts"): what actor processes are started with. */
export function sourcePath(relative: string): string {
  return path.join(packageRoot(), relative);
}
