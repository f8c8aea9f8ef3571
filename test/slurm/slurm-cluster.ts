// A real Slurm cluster on this machine for the tests: a private munged (own key and socket), slurmctld, and two
// slurmd named n1 and n2 on 127.0.0.1 with their own ports (Slurm 22.05 accepts several slurmd per host that way).
// Everything lives in one temporary directory and is reached through SLURM_CONF; nothing goes to /etc/slurm or
// the system's munge socket. Installs slurm-wlm and munge with apt-get when they are missing (root only).
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { pollUntil } from "../../runtime/async.ts";

const exec = promisify(execFile);
const SBIN = ["/usr/sbin", "/usr/bin"];
const APT = "/usr/bin/apt-get"; // Debian's slurm-wlm and munge put every program under /usr/sbin or /usr/bin
const NODES = ["n1", "n2"];

const found = (tool: string): boolean => SBIN.some((d) => existsSync(path.join(d, tool)));

/** Why Slurm cannot be run here, or undefined when it can (installed, or root with apt-get to install it). */
export function slurmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (slurmd runs jobs as their user; munged and apt-get)";
  if (["slurmctld", "slurmd", "munged", "sbatch"].every(found)) return undefined;
  if (!existsSync(APT)) return "slurm-wlm/munge are not installed and there is no apt-get";
  return undefined;
}

/** apt-get install slurm-wlm munge, when any of their programs is missing. */
export function installSlurm(): void {
  if (["slurmctld", "slurmd", "munged", "sbatch"].every(found)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync(APT, ["update", "-qq"], { env, stdio: "pipe" });
  execFileSync(APT, ["install", "-y", "-qq", "--no-install-recommends", "slurm-wlm", "munge"], { env, stdio: "pipe" });
}

export interface JobState {
  state: string;
  exitCode: number;
}

export class SlurmCluster {
  readonly conf: string;
  private readonly sock: string;

  constructor(readonly dir: string) {
    this.conf = path.join(dir, "slurm.conf");
    this.sock = path.join(dir, "munge", "munge.sock");
  }

  /** The environment Slurm's commands need (SLURM_CONF), with node on PATH for the batch script. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const PATH = [path.dirname(process.execPath), ...SBIN, process.env.PATH ?? ""].join(":");
    return { ...process.env, PATH, SLURM_CONF: this.conf, ...extra };
  }

  /** Starts munged, slurmctld and the slurmds, and waits until both nodes are idle. */
  async start(): Promise<void> {
    this.startMunge();
    writeFileSync(this.conf, this.slurmConf());
    mkdirSync(path.join(this.dir, "state"));
    for (const n of NODES) mkdirSync(path.join(this.dir, "spool", n), { recursive: true });
    await exec("/usr/sbin/slurmctld", [], { env: this.env() });
    for (const n of NODES) await exec("/usr/sbin/slurmd", ["-N", n], { env: this.env() });
    await pollUntil(async () => ((await this.cmd("sinfo", "-h", "-o", "%D %T")).trim() === `${NODES.length} idle` ? true : undefined), {
      what: `Slurm nodes idle (logs in ${this.dir})`,
      timeoutMs: 30_000,
      everyMs: 250,
    });
  }

  /** Runs a Slurm client command against this cluster; its stdout. */
  async cmd(tool: string, ...args: string[]): Promise<string> {
    return (await exec(tool, args, { env: this.env() })).stdout;
  }

  /** Submits `script` with `sbatch --parsable`; the Slurm job id. */
  async sbatch(args: string[], o: { cwd: string; env?: Record<string, string> }): Promise<string> {
    const r = await exec("sbatch", ["--parsable", ...args], { cwd: o.cwd, env: this.env(o.env) });
    return r.stdout.trim().split(";")[0]!;
  }

  /** The job's state and its batch script's exit code, from slurmctld's job record. */
  async job(id: string): Promise<JobState> {
    const line = await this.cmd("scontrol", "show", "job", id, "-o");
    const state = /\bJobState=(\S+)/.exec(line)?.[1];
    const code = /\bExitCode=(\d+):\d+/.exec(line)?.[1];
    if (!state || code === undefined) throw new Error(`unexpected 'scontrol show job ${id}' output: ${line}`);
    return { state, exitCode: Number(code) };
  }

  /** Waits until the job has ended (any state but pending, configuring, running or completing). */
  async waitForEnd(id: string, timeoutMs: number): Promise<JobState> {
    return pollUntil(
      async () => {
        const j = await this.job(id);
        return ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING"].includes(j.state) ? undefined : j;
      },
      { what: `Slurm job ${id} ended`, timeoutMs, everyMs: 500 },
    );
  }

  /** Cancels every job, then stops the slurmds, slurmctld and munged (each by its pid file). */
  async stop(): Promise<void> {
    if (existsSync(path.join(this.dir, "slurmctld.pid"))) {
      spawnSync("/usr/bin/scancel", ["--full", "--user=root"], { env: this.env() });
      await pollUntil(async () => ((await this.cmd("squeue", "-h")).trim() === "" ? true : undefined), {
        what: "Slurm jobs gone",
        timeoutMs: 40_000,
        everyMs: 250,
      }).catch(() => undefined);
    }
    const pids = [...NODES.map((n) => `slurmd-${n}.pid`), "slurmctld.pid"].map((f) => path.join(this.dir, f));
    for (const f of pids) if (existsSync(f)) await killAndWait(Number(readFileSync(f, "utf8").trim()));
    const munged = path.join(this.dir, "munge", "munged.pid");
    if (existsSync(munged)) await killAndWait(Number(readFileSync(munged, "utf8").trim()));
  }

  private startMunge(): void {
    const m = path.join(this.dir, "munge");
    mkdirSync(m, { mode: 0o755 }); // munged wants its socket's directory searchable by everyone
    chmodSync(this.dir, 0o755);
    writeFileSync(path.join(m, "munge.key"), randomBytes(128), { mode: 0o600 });
    const files = ["key-file=munge.key", "pid-file=munged.pid", "log-file=munged.log", "seed-file=munged.seed"];
    execFileSync("/usr/sbin/munged", [`--socket=${this.sock}`, ...files.map((f) => `--${f.replace("=", `=${m}/`)}`)], { stdio: "pipe" });
  }

  private slurmConf(): string {
    const d = this.dir;
    const port = randomInt(20_000, 60_000);
    const nodes = NODES.map(
      (n, i) => `NodeName=${n} NodeHostname=localhost NodeAddr=127.0.0.1 Port=${port + 1 + i} CPUs=1 RealMemory=1000`,
    );
    return `ClusterName=tr${randomBytes(3).toString("hex")}
SlurmctldHost=localhost
SlurmctldPort=${port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${this.sock}
StateSaveLocation=${d}/state
SlurmdSpoolDir=${d}/spool/%n
SlurmctldPidFile=${d}/slurmctld.pid
SlurmdPidFile=${d}/slurmd-%n.pid
SlurmctldLogFile=${d}/slurmctld.log
SlurmdLogFile=${d}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
ReturnToService=2
${nodes.join(" State=UNKNOWN\n")} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** SIGTERM, then waits (up to 10 s, then SIGKILL) until the process is gone. */
async function killAndWait(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, "SIGTERM");
  await pollUntil(() => (alive(pid) ? undefined : true), { what: `pid ${pid} gone`, timeoutMs: 10_000, everyMs: 100 }).catch(() =>
    process.kill(pid, "SIGKILL"),
  );
}
