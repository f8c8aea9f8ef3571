// Debian's headless Chromium for the browser tests: its path, installed first (as scripts/setup.sh does) when the
// machine lacks it. playwright-core drives it and downloads nothing.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const CHROMIUM = "/usr/bin/chromium";

export function chromiumPath(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const apt = (...args: string[]) =>
    execFileSync(sudo[0] ?? "apt-get", [...(sudo.length ? ["apt-get"] : []), ...args], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  apt("update", "-qq");
  apt("install", "-y", "-qq", "chromium");
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing after apt-get install chromium (run scripts/setup.sh)`);
  return CHROMIUM;
}
