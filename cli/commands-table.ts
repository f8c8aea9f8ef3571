// The commands of `troupe`, for the top-level help without loading any of them (a test keeps each summary equal
// to the description its module registers), and the exit codes every command ends with.
import { CommanderError } from "commander";
import { UsageError } from "./errors.ts";

export interface CommandEntry {
  /** cli/commands/<name>.ts registers it. */
  name: string;
  summary: string;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "up",
    summary: "start a local cluster in the background: nats-server(s) (role credentials, JetStream in the cluster dir) and one host agent",
  },
  { name: "down", summary: "stop the local cluster started by `troupe up` (supervisor, host agent and its actors, nats-server)" },
  { name: "nats-server", summary: "run this host's nats-server of a NATS cluster spread over hosts (`troupe up --routes` on the first)" },
  { name: "agent", summary: "run the host agent: registers this host's slots, starts and kills actor processes, reports their exits" },
  {
    name: "train",
    summary: "train a GPT from a YAML config: one rank here, or dp·pp·tp worker processes when the config has a parallel section",
  },
  { name: "jobs", summary: "list the jobs submitted to the cluster: id, config, layout, state, step, started, run directory" },
  { name: "attach", summary: "follow a job in the cluster (its output so far, then live) until it ends; Ctrl-C: stop it or detach" },
  { name: "stop", summary: "stop a job in the cluster: it finishes its step and saves a checkpoint" },
  { name: "plan", summary: "show the placement of a dp × pp × tp job on hosts and the bytes each link class carries per step" },
  { name: "ps", summary: "list actors: id, coordinates, host, pid, state, phase, restarts, step, heartbeat age" },
  { name: "inspect", summary: "show one actor's full record, xstate snapshot and recent state history" },
  { name: "events", summary: "print the cluster's event log; -f keeps following" },
  {
    name: "logs",
    summary: "print an actor's log lines, readable (--json: raw), all its processes and restarts included; -f keeps following",
  },
  {
    name: "dashboard",
    summary: "serve a live web dashboard of the cluster (actors, jobs, recoveries, events, controls) and Prometheus metrics",
  },
  {
    name: "gc",
    summary: "forget the dead actors of jobs that ended, and ended jobs with none left (their names free again); running jobs stay",
  },
  { name: "kill", summary: "send a signal to an actor's process (fault injection); its supervisor reacts as to any failure" },
  { name: "restart", summary: "restart an actor through its supervisor, or a running job's workers, stage or replica live" },
  { name: "scale", summary: "grow an elastic data-parallel job that shrank back to N replicas, live at a step boundary" },
  { name: "chaos", summary: "inject faults into a running job: at each tick a random live worker gets a signal through its host agent" },
  { name: "data", summary: "curate a training corpus: cleanup, quality filter, exact and fuzzy dedup, decontamination, blend, tokenize" },
  { name: "export", summary: "write a checkpoint of any layout as a Hugging Face GPT-2 model folder (config, safetensors, tokenizer)" },
  { name: "eval", summary: "score a checkpoint on zero/one/few-shot tasks (JSONL) and/or run the gender–occupation bias probe" },
  { name: "generate", summary: "continue a prompt with a checkpoint: greedy, temperature, top-k or top-p sampling, streamed" },
];

export function commandNamed(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The known command closest to a mistyped one (edit distance ≤ 2), if any. */
export function suggestCommand(name: string): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diag = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const up = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
        diag = up;
      }
    }
    return row[b.length]!;
  };
  const best = COMMANDS.map((c) => ({ name: c.name, d: distance(name, c.name) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 2 ? best.name : undefined;
}

/** Exit codes of every troupe command (docs/reference/cli.md). */
export const EXIT = { done: 0, failed: 1, usage: 2, sigint: 130, sigterm: 143 } as const;

/** A bad command line (commander's own errors, UsageError) exits 2; every other failure exits 1. */
export function exitCodeOf(err: unknown): number {
  return err instanceof CommanderError || err instanceof UsageError ? EXIT.usage : EXIT.failed;
}

/** The exit code of a run stopped by a signal: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM). */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return signal === "SIGTERM" ? EXIT.sigterm : signal === "SIGINT" ? EXIT.sigint : EXIT.failed;
}

export function summaryOf(name: string): string {
  const c = commandNamed(name);
  if (!c) throw new Error(`no command '${name}' in cli/commands-table.ts`);
  return c.summary;
}
