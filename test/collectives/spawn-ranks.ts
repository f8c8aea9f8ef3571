// Starts N rank processes of rank-worker.ts and collects their JSON lines.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "rank-worker.ts");

export interface RankProcess {
  rank: number;
  child: ChildProcess;
  messages: Record<string, unknown>[];
  stderr: string;
  exited: Promise<number | null>;
  /** resolves with the first message satisfying `pred` */
  waitFor(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** `script`: another rank program taking the same JSON argument (default rank-worker.ts). */
export function spawnRanks(worldSize: number, args: Record<string, unknown>, script = worker): RankProcess[] {
  const keyHex = randomBytes(32).toString("hex"); // the job's collective key (tests only: argv is readable by others)
  return Array.from({ length: worldSize }, (_, rank) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify({ ...args, keyHex, rank, worldSize })], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const messages: Record<string, unknown>[] = [];
    const listeners = new Set<() => void>();
    let buffered = "";
    child.stdout!.on("data", (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          messages.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          messages.push({ raw: line });
        }
        for (const l of listeners) l();
      }
    });
    const p: RankProcess = {
      rank,
      child,
      messages,
      stderr: "",
      exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
      waitFor(pred, timeoutMs = 25_000) {
        return new Promise((resolve, reject) => {
          const check = () => {
            const m = messages.find(pred);
            if (m) {
              listeners.delete(check);
              clearTimeout(timer);
              resolve(m);
            }
          };
          const timer = setTimeout(() => {
            listeners.delete(check);
            reject(
              new Error(`rank ${rank}: no expected message within ${timeoutMs} ms; got ${JSON.stringify(messages)}; stderr ${p.stderr}`),
            );
          }, timeoutMs);
          listeners.add(check);
          check();
        });
      },
    };
    child.stderr!.on("data", (d: Buffer) => (p.stderr = (p.stderr + d.toString()).slice(-4000)));
    return p;
  });
}

export function killAll(ranks: RankProcess[]): void {
  for (const r of ranks) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
}
