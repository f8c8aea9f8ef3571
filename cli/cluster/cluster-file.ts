// The cluster directory written by `troupe up`: cluster.json (ids, URLs, pids), the per-role credentials
// creds/<role> (mode 0600, in a folder of mode 0700) and, for a TLS cluster, tls/ (the CA and the servers'
// certificate). Commands find a cluster through it.
import { issueText } from "../../runtime/zod-issue.ts";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "../../runtime/errors.ts";
import { ROLES, roleSecret, type Role } from "../../runtime/nats-roles.ts";

const clusterInfoSchema = z.object({
  clusterId: z.string(),
  /** The client URLs of the cluster's nats-servers, joined with commas. */
  url: z.string(),
  /** The command line's secret: the token, or the operator's credentials (`<credsDir>/operator`). */
  tokenFile: z.string(),
  /** Per-role credentials (nats-roles.ts), one file per role; null for a token-only cluster (older versions). */
  credsDir: z.string().nullable().default(null),
  natsPid: z.number().int(),
  /** The nats-servers this `troupe up` started (older files: natsPid alone). */
  natsServers: z.array(z.object({ name: z.string(), url: z.string(), pid: z.number().int() })).default([]),
  /** The cluster CA clients verify the servers with; null: no TLS. */
  caFile: z.string().nullable().default(null),
  agentPid: z.number().int().nullable(),
  supervisorPid: z.number().int().nullable(),
  /** The job service's process (absent in files of older versions). */
  servicesPid: z.number().int().nullable().default(null),
  startedAt: z.number(),
});
export type ClusterInfo = z.infer<typeof clusterInfoSchema>;

const DEFAULT_CLUSTER_DIR = ".troupe";

export function clusterDir(dir?: string): string {
  return path.resolve(dir ?? process.env.TROUPE_CLUSTER ?? DEFAULT_CLUSTER_DIR);
}

export function clusterFile(dir: string): string {
  return path.join(dir, "cluster.json");
}

export function readClusterInfo(dir: string): ClusterInfo {
  const file = clusterFile(dir);
  if (!existsSync(file)) throw new ConfigError(`no cluster in ${dir} (start one with \`troupe up --cluster ${dir}\`, or pass --nats URL)`);
  const parsed = clusterInfoSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  if (!parsed.success) throw new ConfigError(`${file} is not a troupe cluster file: ${issueText(parsed.error)}`);
  return parsed.data;
}

export function writeClusterInfo(dir: string, info: z.input<typeof clusterInfoSchema>): void {
  writeFileSync(clusterFile(dir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
}

/** The pids of the nats-servers started for the cluster. */
export function natsPids(info: ClusterInfo): number[] {
  return info.natsServers.length > 0 ? info.natsServers.map((s) => s.pid) : [info.natsPid];
}

/** A fresh random token, written with mode 0600 (owner read/write only). */
export function writeNewToken(file: string): string {
  const token = randomBytes(24).toString("base64url");
  writeFileSync(file, token + "\n", { mode: 0o600 });
  return token;
}

export function readToken(file: string): string {
  if (!existsSync(file)) throw new ConfigError(`token file ${file} does not exist`);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) throw new ConfigError(`token file ${file} is readable by others (mode ${mode.toString(8)}); run chmod 600 ${file}`);
  return readFileSync(file, "utf8").trim();
}

/** A fresh random password per role, each written as `<role>:<password>` to `<dir>/<role>` (mode 0600). */
export function writeNewCredentials(dir: string): Record<Role, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwords = Object.fromEntries(ROLES.map((r) => [r, randomBytes(24).toString("base64url")])) as Record<Role, string>;
  for (const role of ROLES) {
    const file = path.join(dir, role);
    writeFileSync(file, roleSecret(role, passwords[role]) + "\n", { mode: 0o600 });
    chmodSync(file, 0o600); // an older file keeps its mode through writeFileSync
  }
  return passwords;
}

/** The passwords of the roles, read back from `<dir>/<role>` (a copy of a cluster's creds/ folder). */
export function readCredentials(dir: string): Record<Role, string> {
  const entries = ROLES.map((role) => {
    const secret = readToken(path.join(dir, role));
    if (!secret.startsWith(`${role}:`)) throw new ConfigError(`${path.join(dir, role)} does not hold ${role}'s credentials`);
    return [role, secret.slice(role.length + 1)];
  });
  return Object.fromEntries(entries) as Record<Role, string>;
}

/** The secret of `role` in a cluster with per-role credentials, else the cluster's token. */
export function readSecret(info: ClusterInfo, role: Role): string {
  return readToken(info.credsDir ? path.join(info.credsDir, role) : info.tokenFile);
}
