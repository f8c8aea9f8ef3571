// The job's collective key: 32 random bytes the coordinator (or inference driver) writes to a file of mode 0600 in
// the run directory; workers read it from the path their job file names. The key never travels over NATS: the
// spawn requests the host agents receive carry only the job file's path.
import { chmodSync, openSync, closeSync, readFileSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { checkCollectiveKey, COLLECTIVE_KEY_BYTES } from "./auth-handshake.ts";
import { CollectiveKeyError } from "./errors.ts";

const COLLECTIVE_KEY_FILE = "collective.key";

/** A fresh random key (tests that build meshes directly use one). */
export function newCollectiveKey(): Buffer {
  return randomBytes(COLLECTIVE_KEY_BYTES);
}

/** Writes a fresh key to `<dir>/collective.key` (mode 0600, replacing an older one) and returns its absolute path. */
export function writeCollectiveKeyFile(dir: string): string {
  const file = path.resolve(dir, COLLECTIVE_KEY_FILE);
  const fd = openSync(file, "w", 0o600);
  try {
    chmodSync(file, 0o600); // an older file keeps its mode through open(): narrow it before writing the key
    writeSync(fd, newCollectiveKey());
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Reads the key file; refuses one of the wrong size or that other users may read (group or other bits set). */
export function readCollectiveKeyFile(file: string): Buffer {
  let key: Buffer;
  try {
    const mode = statSync(file).mode & 0o777;
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      throw new CollectiveKeyError(
        `collective key file ${file} has mode ${mode.toString(8)}: it must be readable by its owner only (0600)`,
      );
    }
    key = readFileSync(file);
  } catch (cause) {
    if (cause instanceof CollectiveKeyError) throw cause;
    throw new CollectiveKeyError(`cannot read the collective key file ${file}: ${(cause as Error).message}`, { cause });
  }
  checkCollectiveKey(key);
  return key;
}
