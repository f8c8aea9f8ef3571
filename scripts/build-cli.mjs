// Bundles the `troupe` command line (cli/main.ts and every command, loaded on demand) with esbuild into
// build/cli/<stamp>/, so a command starts without compiling TypeScript (tsx) first. bin/troupe.js rebuilds it
// when a source file it was built from changed, and runs from the sources through tsx when it cannot.
// Actor processes (workers, agents, coordinators) are started from the TypeScript sources, not from here.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const cliBuildDir = path.join(root, "build", "cli");

/**
 * Each source keeps its own `import.meta.url` in the bundle: code that finds files next to itself (the worker
 * program a coordinator starts, the native addon) behaves exactly as when it runs from its source file.
 */
const sourceLocations = {
  name: "source-locations",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const text = readFileSync(args.path, "utf8").replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href));
      return { contents: text, loader: "ts" };
    });
  },
};

/** Builds a new bundle and makes it current (build/cli/current names it); returns its folder. */
export async function buildCli() {
  const esbuild = await import("esbuild");
  const stamp = `${Date.now().toString(36)}-${process.pid}`;
  const outdir = path.join(cliBuildDir, stamp);
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: "cli/main.ts" },
    outdir,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    metafile: true,
    logLevel: "silent",
    outExtension: { ".js": ".mjs" },
    plugins: [sourceLocations],
  });
  writeFileSync(path.join(outdir, "meta.json"), JSON.stringify({ root, inputs: Object.keys(result.metafile.inputs) }));
  // the pointer moves atomically: a troupe started meanwhile runs the old bundle or the new one, never half of one
  const tmp = path.join(cliBuildDir, `current.${stamp}`);
  writeFileSync(tmp, stamp);
  renameSync(tmp, path.join(cliBuildDir, "current"));
  removeOld(stamp);
  return outdir;
}

/** Bundles older than an hour go (a command started from one has long loaded what it needs). */
function removeOld(keep) {
  for (const name of readdirSync(cliBuildDir)) {
    const p = path.join(cliBuildDir, name);
    if (name === keep || name === "current" || name.startsWith("current.")) continue;
    try {
      if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
    } catch {
      // another build removed it
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  mkdirSync(cliBuildDir, { recursive: true });
  const dir = await buildCli();
  console.log(`troupe CLI bundled in ${path.relative(root, dir)}`);
}
