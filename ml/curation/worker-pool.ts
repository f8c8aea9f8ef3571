// A fixed set of worker threads running one TypeScript module, with request/reply in FIFO order.
import { WorkerFailedError } from "./errors.ts";
import { Worker } from "node:worker_threads";

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** Starts `entry` (a .ts module URL) in a worker thread through tsx, which workers do not inherit. */
function startTsWorker(entry: URL): Worker {
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true });
}

export class WorkerPool<Req, Rep extends { op: string }> {
  private readonly queues: Pending[][];
  private closed = false;

  /** Receives messages with op "progress" (not replies): (worker index, message). */
  onProgress: ((worker: number, msg: Rep) => void) | undefined;

  private constructor(private readonly workers: Worker[]) {
    this.queues = workers.map(() => []);
    workers.forEach((w, i) => {
      w.on("message", (msg: Rep | { op: "error"; message: string }) => {
        if (msg.op === "progress") {
          this.onProgress?.(i, msg as Rep);
          return;
        }
        const next = this.queues[i]!.shift();
        if (!next) return;
        if (msg.op === "error") next.reject(new WorkerFailedError(`worker ${i}: ${(msg as { message: string }).message}`));
        else next.resolve(msg);
      });
      const failAll = (err: Error): void => {
        for (const p of this.queues[i]!.splice(0)) p.reject(new WorkerFailedError(`worker ${i} failed`, { cause: err }));
      };
      w.on("error", failAll);
      w.on("exit", (code) => {
        if (!this.closed) failAll(new Error(`exited with code ${code}`));
      });
    });
  }

  static start<Req, Rep extends { op: string }>(entry: URL, size: number): WorkerPool<Req, Rep> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`worker count must be a positive integer, got ${size}`);
    return new WorkerPool<Req, Rep>(Array.from({ length: size }, () => startTsWorker(entry)));
  }

  get size(): number {
    return this.workers.length;
  }

  call<R extends Rep>(index: number, req: Req, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.closed) return Promise.reject(new WorkerFailedError("worker pool is closed"));
    return new Promise<R>((resolve, reject) => {
      this.queues[index]!.push({ resolve: resolve as (v: unknown) => void, reject });
      this.workers[index]!.postMessage(req, transfer);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
