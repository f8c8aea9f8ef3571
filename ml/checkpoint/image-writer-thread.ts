// A worker_thread that writes checkpoint file images: write, fsync, sha256, one file after another, with no work
// left for the main thread. The images travel by transfer (no copy) and come back the same way for reuse. The
// thread's code is plain JavaScript passed as source: it needs no project module, and tsx cannot load
// TypeScript inside a worker_thread on Node 20. Measured against the thread pool (fs/promises + WebCrypto) in
// test/bench/checkpoint.ts: one background thread leaves the step loop more of a small machine's cores.
import { Worker } from "node:worker_threads";

const THREAD_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { closeSync, fsyncSync, openSync, writeSync } = require("node:fs");
const { createHash } = require("node:crypto");
parentPort.on("message", ({ id, files }) => {
  const records = [];
  let error;
  for (const { file, image } of files) {
    try {
      const bytes = new Uint8Array(image);
      const fd = openSync(file, "w");
      try {
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      records.push({ bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") });
    } catch (err) {
      error = String(err && err.message || err);
      break;
    }
  }
  const images = files.map((f) => f.image);
  parentPort.postMessage({ id, records, error, images }, images);
});
`;

export interface ImageFile {
  /** Absolute path to write. */
  file: string;
  /** The file's bytes; transferred to the thread (detached here) until the write settles. */
  image: ArrayBuffer;
}

export interface WrittenImages {
  records: { bytes: number; sha256: string }[];
  /** The images, given back for reuse. */
  images: ArrayBuffer[];
}

interface Reply {
  id: number;
  records: { bytes: number; sha256: string }[];
  error?: string;
  images: ArrayBuffer[];
}

export class ImageWriterThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (w: WrittenImages) => void; reject: (e: Error) => void }>();

  /** Writes the files in order (each fsynced); resolves with their sizes and sha256, and the images back. */
  write(files: ImageFile[]): Promise<WrittenImages> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<WrittenImages>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.ref(); // a write in flight keeps the process alive
      worker.postMessage(
        { id, files },
        files.map((f) => f.image),
      );
    });
  }

  /** Ends the thread (a write in flight is lost: drain first). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    worker.on("message", (reply: Reply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref(); // an idle thread does not keep the process alive
      if (!waiter) return;
      if (reply.error !== undefined) waiter.reject(new Error(reply.error));
      else waiter.resolve({ records: reply.records, images: reply.images });
    });
    const failAll = (err: Error) => {
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
      if (this.worker === worker) this.worker = undefined;
    };
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`checkpoint writer thread exited (code ${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
