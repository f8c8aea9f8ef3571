// Which checkpoint a run can continue from: the newest one whose manifest and files (size, sha256) are whole.
// A corrupt newest checkpoint (a disk error, a truncated copy, a half-deleted folder) is skipped with the
// reason, naming the bad file, so the caller can say why it falls back to an older one.
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { MANIFEST_FILE } from "./manifest.ts";
import { listCheckpoints, readManifest, setLatest } from "./store.ts";
import { CheckpointError } from "./errors.ts";

/** A checkpoint folder that failed verification: the file at fault (a name inside `dir`) and why. */
export interface CorruptCheckpoint {
  dir: string;
  file: string;
  reason: string;
}

export interface GoodCheckpoint {
  /** The newest whole checkpoint folder, undefined when there is none. */
  dir: string | undefined;
  /** Newer folders that were skipped, newest first. */
  skipped: CorruptCheckpoint[];
}

const CHUNK = 8 * 1024 * 1024;

function sha256OfFile(file: string): string {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(file, "r");
  try {
    for (let n = readSync(fd, buf, 0, CHUNK, null); n > 0; n = readSync(fd, buf, 0, CHUNK, null)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Checks `dir`'s manifest and every file it lists (presence, size, sha256); undefined when whole. */
export function findCorruption(dir: string): CorruptCheckpoint | undefined {
  let files;
  try {
    files = readManifest(dir).files;
  } catch (err) {
    const manifest = path.join(dir, MANIFEST_FILE);
    // readManifest's message starts with the path; keep only what is wrong with it
    const reason = err instanceof CheckpointError ? err.message.replace(`checkpoint manifest ${manifest} `, "") : String(err);
    return { dir, file: MANIFEST_FILE, reason };
  }
  for (const f of files) {
    const full = path.join(dir, f.file);
    if (!existsSync(full)) return { dir, file: f.file, reason: "is missing" };
    const bytes = statSync(full).size;
    if (bytes !== f.bytes) return { dir, file: f.file, reason: `truncated or damaged: ${bytes} bytes, the manifest says ${f.bytes}` };
    const sha256 = sha256OfFile(full);
    if (sha256 !== f.sha256)
      return { dir, file: f.file, reason: `sha256 ${sha256.slice(0, 12)}… does not match the manifest's ${f.sha256.slice(0, 12)}…` };
  }
  return undefined;
}

/** Walks the step folders under `root` newest first and returns the first whole one, with the corrupt ones skipped. */
export function latestGoodCheckpoint(root: string): GoodCheckpoint {
  const skipped: CorruptCheckpoint[] = [];
  for (const { dir } of listCheckpoints(root).reverse()) {
    const bad = findCorruption(dir);
    if (!bad) return { dir, skipped };
    skipped.push(bad);
  }
  return { dir: undefined, skipped };
}

/** `checkpoint <dir> is corrupt (<file>: <reason>)`. */
export function describeCorruption(c: CorruptCheckpoint): string {
  return `checkpoint ${c.dir} is corrupt (${c.file}: ${c.reason})`;
}

/**
 * Before continuing from `good.dir`: renames every skipped folder to `<dir>.corrupt` (kept for inspection; a new
 * save of that step must not find it and keep it) and points `latest` at `good.dir`. Returns the new names.
 */
export function setAsideCorrupt(root: string, good: GoodCheckpoint): string[] {
  if (!good.dir) throw new CheckpointError(`no good checkpoint in ${root} to continue from`);
  const moved = good.skipped.map((c) => {
    const to = `${c.dir}.corrupt`;
    rmSync(to, { recursive: true, force: true });
    renameSync(c.dir, to);
    return to;
  });
  setLatest(root, path.basename(good.dir));
  return moved;
}
