// Starts the rank processes of one parallel-model run and waits for each one's final JSON line.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "rank-worker.ts");

export interface RankResult {
  rank: number;
  losses: number[];
  norms: number[];
  checksum: number;
  /** sum of the held-out micro-batch losses before and after training (0 on ranks that compute no loss) */
  validationSums: number[];
  stepsMs: number;
  maxRssKiB: number;
}

export interface RunArgs {
  natsUrl: string;
  dp: number;
  pp: number;
  tp: number;
  schedule: "gpipe" | "1f1b" | "interleaved";
  microbatches: number;
  steps: number;
  /** uneven pipeline splits; default even */
  layersPerStage?: number[];
  virtualStages?: number;
  /** batch ramp-up: micro-batches per replica of steps 1, 2, … (later steps: the last entry); replaces `microbatches` */
  ramp?: number[];
  /** held-out micro-batches evaluated before and after training (0: none) */
  validationBatches?: number;
  /** ZeRO-1: AdamW moments sharded over the dp group */
  zero?: boolean;
  /** write each rank's final parameters to `<dumpDir>/rank<r>.f32` (raw fp32, parameters() order) */
  dumpDir?: string;
}

let runs = 0;

/** Runs every rank as a process; rejects (after killing the others) if one fails or `timeoutMs` passes. */
export async function runRanks(args: RunArgs, timeoutMs = 90_000): Promise<RankResult[]> {
  const world = args.dp * args.pp * args.tp;
  const session = `pm-${process.pid}-${Date.now()}-${runs++}`;
  const keyHex = randomBytes(32).toString("hex");
  const children = Array.from({ length: world }, (_, rank) =>
    spawn(process.execPath, ["--import", "tsx", worker, JSON.stringify({ ...args, session, keyHex, rank })], {
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const timer = setTimeout(() => children.forEach((c) => c.kill("SIGKILL")), timeoutMs);
  try {
    return await Promise.all(
      children.map(
        (child, rank) =>
          new Promise<RankResult>((resolve, reject) => {
            let out = "",
              err = "";
            child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
            child.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
            child.once("exit", (code, signal) => {
              const line = out.split("\n").find((l) => l.includes('"done":true'));
              if (code === 0 && line) resolve(JSON.parse(line) as RankResult);
              else {
                children.forEach((c) => c.exitCode === null && c.kill("SIGKILL"));
                reject(new Error(`rank ${rank} exited with ${code ?? signal}: ${err || out}`));
              }
            });
          }),
      ),
    );
  } finally {
    clearTimeout(timer);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
}
