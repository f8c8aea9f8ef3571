// What a host agent starts: node (its own binary) running a program file of troupe's installation, nothing else.
// Anyone who can publish on an agent's spawn subject could otherwise run any command on the host (`/bin/sh -c …`,
// `node -e …`, a script of their own, NODE_OPTIONS=--require …). The rule is as narrow as troupe's own spawners
// allow (the job service, coordinators, the inference driver, the dedup farm, the demo supervisor, the tests):
//   argv = node [--import <troupe's tsx loader>] [a few runtime flags] <program> [its arguments]
// where the program's real path (symlinks resolved) lies inside the installation and outside its node_modules,
// and the environment sets no NODE_* / LD_* / DYLD_* variable (they load code into the child).
import { realpathSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../paths.ts";
import { SpawnRefusedError } from "./errors.ts";
import { resolveNodeArgs } from "./node-argv.ts";

/** Node options without a value that a child may be given (they change the runtime, load no code). */
const PLAIN_FLAGS = new Set(["--single-threaded-gc", "--enable-source-maps", "--expose-gc", "--no-warnings"]);

/** Node options `--name=<number>` a child may be given. */
const NUMBER_FLAGS = new Set(["--max-old-space-size", "--max-semi-space-size", "--stack-size"]);

/** Options whose value is a module node loads before the program. */
const LOADER_OPTIONS = new Set(["--import", "--loader", "--experimental-loader"]);

/** Environment variables that make node or the dynamic linker load code of the requester's choosing. */
const CODE_ENV = /^(NODE_|LD_|DYLD_)/;

export interface SpawnPolicy {
  /** The installation's folder, symlinks resolved: programs must lie inside it. */
  root: string;
  /** The loaders (`--import` values, after resolution) a child may be started with. */
  loaders: ReadonlySet<string>;
  /** The node binaries accepted as `argv[0]` besides the word `node`. */
  nodes: ReadonlySet<string>;
}

/** The policy of this installation: computed once, from where this module lies. */
export function installationPolicy(): SpawnPolicy {
  const tsx = import.meta.resolve("tsx");
  return {
    root: realpathSync(packageRoot()),
    loaders: new Set([tsx]),
    nodes: new Set([process.execPath, realpathSync(process.execPath)]),
  };
}

export interface SpawnRequestLike {
  actorId: string;
  argv: readonly string[];
  env: Record<string, string>;
  cwd?: string;
}

/** The command to run for `req` (node binary, its arguments with loaders resolved and the program's real path), or SpawnRefusedError. */
export function checkSpawn(req: SpawnRequestLike, policy: SpawnPolicy): { file: string; args: string[]; program: string } {
  const [cmd, ...rest] = req.argv;
  const refuse = (program: string, reason: string) => new SpawnRefusedError(req.actorId, program, reason);
  if (cmd !== "node" && !policy.nodes.has(cmd!)) throw refuse(cmd!, "the agent starts only node running troupe's own programs");
  const bad = Object.keys(req.env).find((k) => CODE_ENV.test(k));
  if (bad) throw refuse(cmd!, `environment variable ${bad} is not allowed`);
  const args = resolveNodeArgs(rest);
  const at = programIndex(args, policy, (reason) => refuse(cmd!, reason));
  const program = args[at]!;
  const real = realProgram(program, req.cwd);
  if (real === undefined) throw refuse(program, "no such program file");
  if (!inside(policy.root, real) || inside(path.join(policy.root, "node_modules"), real)) {
    throw refuse(program, `not a program of troupe's installation (${policy.root})`);
  }
  args[at] = real;
  return { file: process.execPath, args, program: real };
}

/** Programs that start actors themselves, so get the controller's credentials; every other child is a worker. */
const CONTROLLER_PROGRAMS = ["actors/coordinator/main.ts"];

/** The NATS role (nats-roles.ts) of a child running `program` (a real path from checkSpawn). */
export function childRole(program: string, policy: SpawnPolicy): "controller" | "worker" {
  return CONTROLLER_PROGRAMS.some((p) => path.join(policy.root, p) === program) ? "controller" : "worker";
}

/** Where the program is in node's arguments, checking every option before it. */
function programIndex(args: readonly string[], policy: SpawnPolicy, refuse: (reason: string) => Error): number {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-")) return i;
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (LOADER_OPTIONS.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || !policy.loaders.has(value)) throw refuse(`loader '${value ?? ""}' is not troupe's tsx loader`);
    } else if (NUMBER_FLAGS.has(name) && eq >= 0 && /^\d+$/.test(arg.slice(eq + 1))) {
      continue;
    } else if (!PLAIN_FLAGS.has(arg)) {
      throw refuse(`node option '${arg}' is not allowed`);
    }
  }
  throw refuse("no program file given");
}

function realProgram(program: string, cwd: string | undefined): string | undefined {
  try {
    return realpathSync(path.resolve(cwd ?? process.cwd(), program));
  } catch {
    return undefined;
  }
}

function inside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}
