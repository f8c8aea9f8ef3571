// The dashboard `troupe up --dashboard` starts: a detached `troupe dashboard` process whose output goes to
// <cluster>/dashboard.log and whose pid is kept in <cluster>/dashboard.pid, so that `troupe down` stops it. Its
// failing to start never fails `troupe up`: the caller reports it and the cluster stays up.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pollUntil } from "../../runtime/async.ts";
import { packageRoot } from "../../runtime/paths.ts";
import { pidAlive } from "../cluster/local-cluster.ts";

/** Starts it and resolves with the sign-in URL it printed (within `timeoutMs`), or rejects saying why not. */
export async function startBackgroundDashboard(dir: string, o: { port: number; host: string; timeoutMs?: number }): Promise<string> {
  const log = path.join(dir, "dashboard.log");
  const fd = openSync(log, "w", 0o600);
  const argv = [path.join(packageRoot(), "bin", "troupe.js"), "dashboard", "--cluster", dir, "--port", String(o.port), "--host", o.host];
  const child = spawn(process.execPath, argv, { cwd: packageRoot(), stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error("the dashboard process could not be started");
  const pid = child.pid;
  writeFileSync(path.join(dir, "dashboard.pid"), `${pid}\n`, { mode: 0o600 });
  return pollUntil(
    () => {
      const text = readFileSync(log, "utf8");
      const url = /^troupe dashboard: (\S+)$/m.exec(text)?.[1];
      if (url) return url;
      if (!pidAlive(pid)) throw new Error(`the dashboard exited: ${text.trim().split("\n").at(-1) ?? "no output"} (see ${log})`);
      return undefined;
    },
    { what: `the dashboard starting (see ${log})`, timeoutMs: o.timeoutMs ?? 60_000, everyMs: 100 },
  );
}

/** Stops the dashboard `troupe up --dashboard` started in `dir`, if one runs. */
export async function stopBackgroundDashboard(dir: string): Promise<void> {
  const file = path.join(dir, "dashboard.pid");
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, "utf8").trim());
  rmSync(file, { force: true });
  if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) return;
  process.kill(pid, "SIGTERM");
  await pollUntil(() => (pidAlive(pid) ? undefined : true), { what: `the dashboard (pid ${pid}) stopping`, timeoutMs: 5000 }).catch(() =>
    process.kill(pid, "SIGKILL"),
  );
}
