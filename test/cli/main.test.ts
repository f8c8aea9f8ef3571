// The command line's own manners: top-level help from the command table, --version, unknown commands and
// bad flags as one line with a hint and exit code 2.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMANDS, EXIT, exitCodeOf, suggestCommand } from "../../cli/commands-table.ts";
import { UsageError } from "../../cli/errors.ts";

const troupe = (...args: string[]) =>
  spawnSync(process.execPath, [path.resolve("bin/troupe.js"), ...args], { encoding: "utf8", timeout: 60_000 });
const commandFiles = readdirSync("cli/commands")
  .filter((f) => f.endsWith(".ts"))
  .map((f) => f.slice(0, -3));

describe("the command table", () => {
  it("lists every command module once, with the summary the module registers", async () => {
    expect(COMMANDS.map((c) => c.name).sort()).toEqual(commandFiles.sort());
    for (const c of COMMANDS) {
      const program = new Command("troupe");
      const mod = (await import(`../../cli/commands/${c.name}.ts`)) as { register(p: Command): void };
      mod.register(program);
      const cmd = program.commands.find((x) => x.name() === c.name);
      expect(cmd, c.name).toBeDefined();
      expect(cmd!.summary() || cmd!.description(), c.name).toBe(c.summary);
    }
  });

  it("suggests the closest command for a typo, and nothing for a stranger", () => {
    expect(suggestCommand("trian")).toBe("train");
    expect(suggestCommand("inpsect")).toBe("inspect");
    expect(suggestCommand("frobnicate")).toBeUndefined();
  });

  it("maps errors to exit codes: usage 2, anything else 1", () => {
    expect(exitCodeOf(new UsageError("--x must be …"))).toBe(EXIT.usage);
    expect(exitCodeOf(new Error("job failed"))).toBe(EXIT.failed);
  });
});

describe("troupe (the process)", () => {
  it("--help lists every command without loading them; --version prints the package version", () => {
    const help = troupe("--help");
    expect(help.status).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(`  ${c.name} `);
    const v = troupe("--version");
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version);
  });

  it("an unknown command or flag is one line with a hint, exit code 2", () => {
    const cmd = troupe("trian", "x.yaml");
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toBe("troupe: unknown command 'trian' (did you mean 'train'?); see troupe --help\n");
    const flag = troupe("ps", "--bogus");
    expect(flag.status).toBe(2);
    expect(flag.stderr).toBe("troupe: unknown option '--bogus'\n(see troupe ps --help)\n");
    const value = troupe("train", "examples/brown-dp2.yaml", "--steps", "x");
    expect(value.status).toBe(2);
    expect(value.stderr).toBe("troupe: --steps must be a positive integer, got 'x'\n");
  });

  it("a --listen or --advertise that is not an IP address is one line, exit code 2, nothing started", () => {
    const listen = troupe("up", "--listen", "example.com:4222", "--cluster", "/nonexistent/troupe-listen");
    expect(listen.status).toBe(2);
    expect(listen.stderr).toBe(
      "troupe: --listen must be ADDR or ADDR:PORT with an IP address, e.g. 10.0.0.5:4222, got 'example.com:4222'\n",
    );
    expect(troupe("up", "--listen", "10.0.0.5:99999", "--cluster", "/nonexistent/troupe-listen").status).toBe(2);
    const adv = troupe("agent", "--nats", "nats://127.0.0.1:1", "--advertise", "host-a");
    expect(adv.status).toBe(2);
    expect(adv.stderr).toBe("troupe: --advertise must be an IP address, got 'host-a'\n");
  });

  it("no command prints the help and exits 2; `help CMD` shows that command's help", () => {
    const none = troupe();
    expect(none.status).toBe(2);
    expect(none.stdout).toContain("Usage: troupe <command>");
    const help = troupe("help", "train");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--resume");
  });
});
