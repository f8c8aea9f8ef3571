// Following a job in the cluster from this terminal (`troupe train` after it submits, `troupe attach`): its output
// replayed from the first line, then live, drawn as a local run draws itself; the exit code says how it ended.
// Ctrl-C asks whether to stop the job or detach (a second Ctrl-C, or no terminal to ask on, stops it); SIGTERM
// stops it; losing the terminal (SIGHUP) only ends the following, never the job.
import { createInterface } from "node:readline";
import type { NatsConnection } from "@nats-io/transport-node";
import { drawOn, followJobOutput, type JobOutcome } from "../actors/jobs/job-output.ts";
import { requestJobStop } from "../actors/jobs/job-control.ts";
import type { Namespace } from "../runtime/namespace.ts";
import { TerminalView } from "../ml/train/run-view.ts";
import { EXIT, exitCodeForSignal } from "./commands-table.ts";

export interface FollowOptions {
  /** Force the display mode (default: a bar on a TTY). */
  tty?: boolean;
}

/** Follows `jobId` until it ends (the job's exit code) or the follower detaches (0). */
export async function followJob(nc: NatsConnection, ns: Namespace, jobId: string, o: FollowOptions = {}): Promise<number> {
  const view = new TerminalView(process.stdout, o.tty);
  const detach = new AbortController();
  let stopAsked: NodeJS.Signals | undefined;
  const stop = (sig: NodeJS.Signals) => {
    if (stopAsked) return;
    stopAsked = sig;
    view.message(`${sig}: stopping job ${jobId} (it finishes its step and saves a checkpoint)`);
    requestJobStop(nc, ns, jobId, `${sig} to the following troupe`).catch((err: unknown) =>
      view.message(`could not ask job ${jobId} to stop: ${(err as Error).message}`),
    );
  };
  const onInt = () => {
    if (stopAsked || !process.stdin.isTTY || !process.stdout.isTTY) return stop("SIGINT");
    void askStopOrDetach(jobId).then((answer) => (answer === "detach" ? detach.abort() : stop("SIGINT")));
  };
  const onTerm = () => stop("SIGTERM");
  const onHup = () => detach.abort(); // the terminal is gone: the job goes on
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  let outcome: JobOutcome | undefined;
  try {
    outcome = await followJobOutput(nc, ns, jobId, drawOn(view), detach.signal);
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    process.off("SIGHUP", onHup);
    view.end();
  }
  if (!outcome) {
    if (process.stdout.writable) view.say(`detached from job ${jobId}; it goes on (troupe attach ${jobId} · troupe stop ${jobId})`);
    return EXIT.done;
  }
  if (outcome.state === "completed") return EXIT.done;
  if (outcome.state === "stopped") return exitCodeForSignal(stopAsked ?? outcome.signal ?? "SIGTERM"); // troupe stop: a stop from outside, like SIGTERM
  return EXIT.failed;
}

/** Asks on the terminal; a second Ctrl-C while asking means stop. */
function askStopOrDetach(jobId: string): Promise<"stop" | "detach"> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const done = (a: "stop" | "detach") => {
      rl.close();
      resolve(a);
    };
    rl.once("SIGINT", () => done("stop"));
    rl.question(`\nStop job ${jobId} (s, saves a checkpoint) or detach and leave it running (d)? [s/d] `, (a) =>
      done(a.trim().toLowerCase().startsWith("d") ? "detach" : "stop"),
    );
  });
}
