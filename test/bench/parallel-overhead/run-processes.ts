// Starts benchmark processes and collects each one's final JSON report; on a failure or timeout kills them all.
import { spawn } from "node:child_process";
import type { ProcessReport } from "./shapes.ts";

/**
 * Runs `node [nodeFlags] --import tsx <script> <arg>` once per entry of `args`, all at once; resolves with the
 * reports in order.
 */
export async function runProcesses(script: string, args: string[], timeoutMs: number, nodeFlags: string[] = []): Promise<ProcessReport[]> {
  const children = args.map((arg) =>
    spawn(process.execPath, [...nodeFlags, "--import", "tsx", script, arg], { stdio: ["ignore", "pipe", "pipe"] }),
  );
  const killAll = () => children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL"));
  const timer = setTimeout(killAll, timeoutMs);
  try {
    return await Promise.all(
      children.map(
        (child, i) =>
          new Promise<ProcessReport>((resolve, reject) => {
            let out = "",
              err = "";
            child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
            child.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
            child.once("exit", (code, signal) => {
              const line = out.split("\n").find((l) => l.includes('"done":true'));
              if (code === 0 && line) return resolve(JSON.parse(line) as ProcessReport);
              killAll();
              reject(new Error(`process ${i} of ${script} exited with ${code ?? signal} (timeout ${timeoutMs / 1000} s): ${err || out}`));
            });
          }),
      ),
    );
  } finally {
    clearTimeout(timer);
    killAll();
  }
}
