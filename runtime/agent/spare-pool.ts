// Warm spares: for a command line whose spawner asked for them (env TROUPE_KEEP_SPARE=1), the agent keeps one
// process of it started ahead of need, past its slow start (node, the TS loader, the import graph, the native
// addon), waiting for an identity (runtime/spare-start.ts). The next spawn of that command line hands the spare
// the environment a fresh process would have had, instead of starting one: a lost worker's replacement is up
// in a fraction of a start. A spare is refilled a little later (not while the replacement and its peers are busy
// recovering) and let go once no actor of its command line has run for a while.
// A spare starts at the lowest priority (nice 19), so its start-up uses CPU time the running actors leave idle
// instead of slowing them (measured: at normal priority, the job stepped at half its rate while a spare started);
// it gets normal priority back when handed out.
// Standby: a supervisor may ask the host its children would go to if their own host were lost (the failover host)
// to keep `count` spares of a command line no actor of which runs there yet (STANDBY_ENV in a spawn request; the
// agent's spawn policy applies as to any spawn). They are kept while the request is renewed within its lease, so a
// whole lost host's workers are replaced by warm spares on another host instead of cold starts. Lowering a nice value needs privilege: where the agent lacks it
// (found on the first spare), spares start at normal priority.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../logger.ts";
import { setProcessPriority } from "./process-priority.ts";
import { SPARE_ENV } from "../spare-start.ts";
import type { SpareStatus } from "../types.ts";

/** Set in a spawn request's env by a spawner whose actor main calls awaitSpareIdentity(). */
export const KEEP_SPARE_ENV = "TROUPE_KEEP_SPARE";

/**
 * Set (to `<count>:<leaseMs>`) in a spawn request that asks for standby spares of its command line instead of a
 * process: nothing is started as an actor; the agent keeps `count` spares for `leaseMs` unless asked again.
 */
export const STANDBY_ENV = "TROUPE_STANDBY_SPARES";

/** Most spares of one command line a standby request may ask for. */
const MAX_STANDBY = 8;

/** The standby ask of a spawn request's env, or undefined when it asks for a process. */
export function standbyOf(env: Record<string, string>): { count: number; leaseMs: number } | undefined {
  const v = env[STANDBY_ENV];
  if (v === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(v);
  if (!m) throw new Error(`${STANDBY_ENV} must be <count>:<leaseMs>, got '${v.slice(0, 40)}'`);
  return { count: Math.min(MAX_STANDBY, Math.max(1, Number(m[1]))), leaseMs: Math.max(1000, Number(m[2])) };
}

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

interface Spare {
  child: ChildProcess;
  /** Stops tracking the spare's exit once it is handed out (its actor's exit is the agent's business). */
  forget: () => void;
}

interface Slot {
  command: SpareCommand;
  /** Started and waiting, oldest first. */
  ready: Spare[];
  /** How many to keep: 1, or a standby request's count until a spare is taken. */
  want: number;
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
    const slot = this.slotOf(key, command);
    clearTimeout(slot.idle);
    slot.idle = undefined;
    // actors of the line run here now: one spare, as on any host running it (a standby renewal may ask for more)
    slot.want = 1;
    const spare = slot.ready.shift();
    this.scheduleRefill(key, slot);
    if (!spare) return undefined;
    spare.forget();
    const child = spare.child;
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
   * Standby (STANDBY_ENV): keeps `count` spares of the line; unless `busy` (an actor of the line runs here, whose
   * last exit lets them go as usual), they go once `leaseMs` passes without another standby request.
   */
  standby(key: string, command: SpareCommand, count: number, leaseMs: number, busy: boolean): void {
    if (this.stopped) return;
    const slot = this.slotOf(key, command);
    slot.want = Math.max(slot.want, count);
    clearTimeout(slot.idle);
    slot.idle = undefined;
    if (!busy) {
      slot.idle = setTimeout(() => void this.drop(key), leaseMs);
      slot.idle.unref();
    }
    this.scheduleRefill(key, slot, 0);
  }

  private slotOf(key: string, command: SpareCommand): Slot {
    const slot = this.slots.get(key) ?? { command, ready: [], want: 1, earlyDeaths: 0 };
    this.slots.set(key, slot);
    return slot;
  }

  /**
   * The spares as the host record carries them: command lines that keep one (`target`; a line whose spares kept
   * dying is left out) and those whose spare is started and waiting (`ready`, with their pids).
   */
  status(): SpareStatus {
    const lines = [...this.slots.values()].filter((s) => s.ready.length > 0 || s.earlyDeaths < MAX_EARLY_DEATHS);
    const pids = lines.flatMap((s) =>
      s.ready.flatMap(({ child: c }) => (c.pid !== undefined && c.exitCode === null && c.signalCode === null ? [c.pid] : [])),
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
    const spares = slot.ready.splice(0);
    for (const s of spares) s.forget();
    if (!this.stopped) this.o.onChange?.();
    return Promise.all(spares.map((s) => dismiss(s.child))).then(() => undefined);
  }

  /** Starts the missing spares of the line after `delayMs` (the refill delay unless told). */
  private scheduleRefill(key: string, slot: Slot, delayMs = this.o.refillMs ?? 3000): void {
    if (slot.refill || this.stopped || slot.earlyDeaths >= MAX_EARLY_DEATHS || slot.ready.length >= slot.want) return;
    slot.refill = setTimeout(() => {
      slot.refill = undefined;
      while (!this.stopped && this.slots.get(key) === slot && slot.ready.length < slot.want && slot.earlyDeaths < MAX_EARLY_DEATHS) {
        const spare = this.startSpare(key, slot);
        if (!spare) break;
        slot.ready.push(spare);
      }
    }, delayMs);
    slot.refill.unref();
  }

  private startSpare(key: string, slot: Slot): Spare | undefined {
    const { file, args, cwd, env } = slot.command;
    try {
      const child = spawn(file, args, { cwd, env: { ...process.env, ...env, [SPARE_ENV]: "1" }, stdio: ["pipe", "pipe", "pipe"] });
      if (child.pid === undefined) {
        child.on("error", () => undefined);
        return undefined;
      }
      if (this.canRestorePriority !== false && !this.lowerPriority(child.pid, () => slot.ready.some((s) => s.child === child))) {
        // niced for good, as a worker it would be the job's straggler: start one at normal priority instead
        void dismiss(child);
        return this.startSpare(key, slot);
      }
      child.stdin!.on("error", () => undefined); // a spare that died before its identity was written
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        // died while waiting: start another later rather than hand out a dead one
        const i = slot.ready.findIndex((s) => s.child === child);
        if (i < 0) return;
        slot.ready.splice(i, 1);
        slot.earlyDeaths++;
        this.o.logger.warn({ pid: child.pid, code, signal, command: args.join(" ") }, "warm spare exited before use");
        this.o.onChange?.();
        this.scheduleRefill(key, slot);
      };
      child.once("exit", onExit);
      this.o.logger.info({ pid: child.pid, command: args.join(" ") }, "warm spare started");
      queueMicrotask(() => this.o.onChange?.());
      return { child, forget: () => child.off("exit", onExit) };
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
