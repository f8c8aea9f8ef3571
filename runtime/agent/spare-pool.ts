// Warm spares: for a command line whose spawner asked for them (env TROUPE_KEEP_SPARE=1), the agent keeps one
// process of it started ahead of need, past its slow start (node, the TS loader, the import graph, the native
// addon), waiting for an identity (runtime/spare-start.ts). The next spawn of that command line hands the spare
// the environment a fresh process would have had, instead of starting one: a lost worker's replacement is up
// in a fraction of a start. A spare is refilled a little later (not while the replacement and its peers are busy
// recovering) and let go once no actor of its command line has run for a while.
// A spare starts at the lowest priority (nice 19), so its start-up uses CPU time the running actors leave idle
// instead of slowing them (measured: at normal priority, the job stepped at half its rate while a spare started);
// it gets normal priority back when handed out. Lowering a nice value needs privilege: where the agent lacks it
// (found on the first spare), spares start at normal priority.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../logger.ts";
import { setProcessPriority } from "./process-priority.ts";
import { SPARE_ENV } from "../spare-start.ts";
import type { SpareStatus } from "../types.ts";

/** Set in a spawn request's env by a spawner whose actor main calls awaitSpareIdentity(). */
export const KEEP_SPARE_ENV = "TROUPE_KEEP_SPARE";

export interface SpareCommand {
  file: string;
  args: string[];
  cwd?: string;
  /** The request's environment without TROUPE_* identity variables: what a spare may start with. */
  env: Record<string, string>;
}

export interface SparePoolOptions {
  logger: Logger;
  /** Delay before a spare is started (after the first spawn, and after each one taken). */
  refillMs?: number;
  /** How long a spare outlives the last actor of its command line. */
  idleMs?: number;
  /** Called when a spare is started, dies before use or is let go (the host record carries status()). */
  onChange?: () => void;
}

/** Spares are interchangeable when everything but the identity matches. */
export function spareCommandOf(
  file: string,
  args: readonly string[],
  cwd: string | undefined,
  env: Record<string, string>,
): SpareCommand & { key: string } {
  const shared = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith("TROUPE_")));
  return { file, args: [...args], cwd, env: shared, key: JSON.stringify([file, args, cwd ?? null, Object.entries(shared).sort()]) };
}

interface Slot {
  command: SpareCommand;
  child?: ChildProcess;
  /** Stops tracking the spare's exit once it is handed out (its actor's exit is the agent's business). */
  forget?: () => void;
  refill?: NodeJS.Timeout;
  idle?: NodeJS.Timeout;
  /** Spares of this line that died before use, in a row: past MAX_EARLY_DEATHS none is started again. */
  earlyDeaths: number;
}

/** A command line whose spares keep dying (its main does not wait for an identity) gets no more of them. */
const MAX_EARLY_DEATHS = 3;

const LOWEST_PRIORITY = 19;
const NORMAL_PRIORITY = 0;

export class SparePool {
  private readonly slots = new Map<string, Slot>();
  private stopped = false;
  /** Whether this agent may give a spare normal priority back; undefined until the first spare tells. */
  private canRestorePriority: boolean | undefined;

  constructor(private readonly o: SparePoolOptions) {}

  /**
   * The warm spare of this command line, told its identity `env` now (undefined when none is ready); a new spare
   * for the line is started after the refill delay either way.
   */
  take(key: string, command: SpareCommand, env: Record<string, string>): ChildProcess | undefined {
    const slot = this.slots.get(key) ?? { command, earlyDeaths: 0 };
    this.slots.set(key, slot);
    clearTimeout(slot.idle);
    slot.idle = undefined;
    const child = slot.child;
    slot.child = undefined;
    this.scheduleRefill(key, slot);
    slot.forget?.();
    if (!child) return undefined;
    const usable = child.exitCode === null && child.signalCode === null && child.stdin?.writable === true;
    if (!usable || (this.canRestorePriority && !setProcessPriority(child.pid!, NORMAL_PRIORITY))) {
      void dismiss(child);
      return undefined;
    }
    slot.earlyDeaths = 0;
    child.stdin!.end(JSON.stringify({ env }) + "\n");
    return child;
  }

  /**
   * The spares as the host record carries them: command lines that keep one (`target`; a line whose spares kept
   * dying is left out) and those whose spare is started and waiting (`ready`, with their pids).
   */
  status(): SpareStatus {
    const lines = [...this.slots.values()].filter((s) => s.child || s.earlyDeaths < MAX_EARLY_DEATHS);
    const pids = lines.flatMap((s) =>
      s.child?.pid !== undefined && s.child.exitCode === null && s.child.signalCode === null ? [s.child.pid] : [],
    );
    return { ready: pids.length, target: this.stopped ? 0 : lines.length, pids };
  }

  /** No actor of this command line runs any more: its spare goes after the idle delay unless one is spawned. */
  release(key: string): void {
    const slot = this.slots.get(key);
    if (!slot || this.stopped) return;
    clearTimeout(slot.idle);
    slot.idle = setTimeout(() => void this.drop(key), this.o.idleMs ?? 10_000);
    slot.idle.unref();
  }

  /** Ends every spare and starts no more; resolves once they are gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.slots.keys()].map((key) => this.drop(key)));
  }

  private drop(key: string): Promise<void> {
    const slot = this.slots.get(key);
    if (!slot) return Promise.resolve();
    this.slots.delete(key);
    clearTimeout(slot.refill);
    clearTimeout(slot.idle);
    slot.forget?.();
    const child = slot.child;
    slot.child = undefined;
    if (!this.stopped) this.o.onChange?.();
    return child ? dismiss(child) : Promise.resolve();
  }

  private scheduleRefill(key: string, slot: Slot): void {
    if (slot.refill || this.stopped || slot.earlyDeaths >= MAX_EARLY_DEATHS) return;
    slot.refill = setTimeout(() => {
      slot.refill = undefined;
      if (this.stopped || this.slots.get(key) !== slot || slot.child) return;
      slot.child = this.startSpare(key, slot);
    }, this.o.refillMs ?? 3000);
    slot.refill.unref();
  }

  private startSpare(key: string, slot: Slot): ChildProcess | undefined {
    const { file, args, cwd, env } = slot.command;
    try {
      const child = spawn(file, args, { cwd, env: { ...process.env, ...env, [SPARE_ENV]: "1" }, stdio: ["pipe", "pipe", "pipe"] });
      if (child.pid === undefined) {
        child.on("error", () => undefined);
        return undefined;
      }
      if (this.canRestorePriority !== false && !this.lowerPriority(child.pid, () => slot.child === child)) {
        // niced for good, as a worker it would be the job's straggler: start one at normal priority instead
        void dismiss(child);
        return this.startSpare(key, slot);
      }
      child.stdin!.on("error", () => undefined); // a spare that died before its identity was written
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        // died while waiting: start another later rather than hand out a dead one
        if (slot.child !== child) return;
        slot.child = undefined;
        slot.earlyDeaths++;
        this.o.logger.warn({ pid: child.pid, code, signal, command: args.join(" ") }, "warm spare exited before use");
        this.o.onChange?.();
        this.scheduleRefill(key, slot);
      };
      child.once("exit", onExit);
      slot.forget = () => child.off("exit", onExit);
      this.o.logger.info({ pid: child.pid, command: args.join(" ") }, "warm spare started");
      queueMicrotask(() => this.o.onChange?.());
      return child;
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, "warm spare could not start");
      return undefined;
    }
  }

  /** Gives the spare the lowest priority; false when it could not be given normal priority back (found once). */
  private lowerPriority(pid: number, stillSpare: () => boolean): boolean {
    setProcessPriority(pid, LOWEST_PRIORITY);
    if (this.canRestorePriority === undefined) {
      this.canRestorePriority = setProcessPriority(pid, NORMAL_PRIORITY) && setProcessPriority(pid, LOWEST_PRIORITY);
      if (!this.canRestorePriority) {
        this.o.logger.info({ pid }, "warm spares start at normal priority (lowering a nice value needs privilege here)");
        return false;
      }
    }
    // threads node started before the first call are caught by a second one
    setTimeout(() => stillSpare() && setProcessPriority(pid, LOWEST_PRIORITY), 300).unref();
    return true;
  }
}

/** A spare holds no state: it is simply killed. */
function dismiss(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  return gone;
}
