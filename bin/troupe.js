#!/usr/bin/env node
// The `troupe` command. It runs the bundled command line (build/cli/, made by scripts/build-cli.mjs) so that a
// command starts in a fraction of a second; the bundle is rebuilt first when a source it was built from changed.
// TROUPE_FROM_SOURCE=1, or a bundle that cannot be built, runs the TypeScript sources through tsx instead.
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = path.join(root, "build", "cli");

/** The current bundle's entry, if every source it was built from is older than it. */
function freshBundle() {
  try {
    const dir = path.join(buildDir, readFileSync(path.join(buildDir, "current"), "utf8").trim());
    const entry = path.join(dir, "main.mjs");
    const built = statSync(entry).mtimeMs;
    const meta = JSON.parse(readFileSync(path.join(dir, "meta.json"), "utf8"));
    if (meta.root !== root) return undefined; // the bundle names its sources by absolute path
    const inputs = meta.inputs;
    for (const input of inputs) if (statSync(path.join(root, input)).mtimeMs > built) return undefined;
    return entry;
  } catch {
    return undefined; // none yet, or a source was removed
  }
}

async function bundleEntry() {
  if (process.env.TROUPE_FROM_SOURCE === "1") return undefined;
  const fresh = freshBundle();
  if (fresh) return fresh;
  try {
    mkdirSync(buildDir, { recursive: true });
    const { buildCli } = await import("../scripts/build-cli.mjs");
    return path.join(await buildCli(), "main.mjs");
  } catch {
    return undefined; // a source that does not compile: the sources through tsx report it
  }
}

const entry = await bundleEntry();
if (entry && existsSync(entry)) {
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../cli/main.ts");
}
