// Warm spares: for a command line whose spawner asked for them (env TROUPE_KEEP_SPARE=1), the agent keeps one
// process of it started ahead of need, past its slow start (node, the TS loader, the import graph, the native
// addon), waiting for an identity (runtime/spare-start.ts). The next spawn of that command line hands the spare
// the environment a fresh process would have had, instead of starting one: a lost worker's replacement is up
// in a fraction of a start. A spare is refilled a little later (not while the replacement and its peers are busy
// recovering) and let go once no actor of its command line has run for a while.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../../runtime/logger.ts";
import { SPARE_ENV } from "../../runtime/spare-start.ts";

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
}

/** Spares are interchangeable when everything but the identity matches. */
export function spareCommandOf(file: string, args: readonly string[], cwd: string | undefined, env: Record<string, string>): SpareCommand & { key: string } {
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

export class SparePool {
  private readonly slots = new Map<string, Slot>();
  private stopped = false;

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
    if (child.exitCode !== null || child.signalCode !== null || !child.stdin?.writable) {
      void dismiss(child);
      return undefined;
    }
    slot.earlyDeaths = 0;
    child.stdin.end(JSON.stringify({ env }) + "\n");
    return child;
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
      child.stdin!.on("error", () => undefined); // a spare that died before its identity was written
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        // died while waiting: start another later rather than hand out a dead one
        if (slot.child !== child) return;
        slot.child = undefined;
        slot.earlyDeaths++;
        this.o.logger.warn({ pid: child.pid, code, signal, command: args.join(" ") }, "warm spare exited before use");
        this.scheduleRefill(key, slot);
      };
      child.once("exit", onExit);
      slot.forget = () => child.off("exit", onExit);
      this.o.logger.info({ pid: child.pid, command: args.join(" ") }, "warm spare started");
      return child;
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, "warm spare could not start");
      return undefined;
    }
  }
}

/** A spare holds no state: it is simply killed. */
function dismiss(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  return gone;
}
