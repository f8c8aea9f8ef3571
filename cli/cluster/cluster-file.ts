// The cluster directory written by `troupe up`: cluster.json (ids, URL, pids) and the per-role credentials
// creds/<role> (mode 0600, in a folder of mode 0700). Commands find a cluster through it.
import { issueText } from "../../runtime/zod-issue.ts";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "../../runtime/errors.ts";
import { ROLES, roleSecret, type Role } from "../../runtime/nats-roles.ts";

const clusterInfoSchema = z.object({
  clusterId: z.string(),
  url: z.string(),
  /** The command line's secret: the token, or the operator's credentials (`<credsDir>/operator`). */
  tokenFile: z.string(),
  /** Per-role credentials (nats-roles.ts), one file per role; null for a token-only cluster (older versions). */
  credsDir: z.string().nullable().default(null),
  natsPid: z.number().int(),
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

export function writeClusterInfo(dir: string, info: ClusterInfo): void {
  writeFileSync(clusterFile(dir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
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

/** The secret of `role` in a cluster with per-role credentials, else the cluster's token. */
export function readSecret(info: ClusterInfo, role: Role): string {
  return readToken(info.credsDir ? path.join(info.credsDir, role) : info.tokenFile);
}
