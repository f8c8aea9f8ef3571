// The `troupe` command line. `troupe --help` and `--version` answer from the table below without loading any
// command; `troupe CMD …` loads cli/commands/CMD.ts alone, so a command pays only for what it uses.
// Exit codes (docs/reference/cli.md): 0 done, 1 failed, 2 usage (bad command, flag, argument, config or
// cluster directory), 130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { sourcePath } from "../runtime/paths.ts";
import { COMMANDS, commandNamed, EXIT, exitCodeOf, suggestCommand } from "./commands-table.ts";

export interface CommandModule {
  register(program: Command): void;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(sourcePath("package.json"), "utf8")) as { version: string };
  return pkg.version;
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "Usage: troupe <command> [options]",
    "",
    "3D-parallel GPT training as a supervised actor system on NATS.",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    "  -V, --version  print the version",
    "  -h, --help     this help; `troupe <command> --help` for one command",
    "",
  ].join("\n");
}

async function run(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V") {
    console.log(version());
    return;
  }
  if (first === undefined || first === "--help" || first === "-h" || (first === "help" && rest.length === 0)) {
    process.stdout.write(topHelp());
    if (first === undefined) process.exitCode = EXIT.usage;
    return;
  }
  const name = first === "help" ? rest[0]! : first;
  const entry = commandNamed(name);
  if (!entry) {
    const guess = suggestCommand(name);
    console.error(`troupe: unknown command '${name}'${guess ? ` (did you mean '${guess}'?)` : ""}; see troupe --help`);
    process.exitCode = EXIT.usage;
    return;
  }
  const program = new Command("troupe")
    .exitOverride()
    .showHelpAfterError(`(see troupe ${entry.name} --help)`)
    .configureOutput({ outputError: (text, write) => write(`troupe: ${text.replace(/^error: /, "")}`) });
  const mod = (await import(`./commands/${entry.name}.ts`)) as CommandModule;
  mod.register(program);
  await program.parseAsync(first === "help" ? ["node", "troupe", entry.name, "--help"] : ["node", "troupe", ...argv]);
}

run(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // commander already printed the one-line error (or the help text it was asked for)
    process.exit(
      err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version" ? 0 : EXIT.usage,
    );
  }
  let message = err instanceof Error ? err.message : String(err);
  // the NATS client's own timeout says only "timeout": say what it means and how to find where
  if (err instanceof Error && err.name === "TimeoutError" && !process.env.TROUPE_DEBUG)
    message += " (a NATS request got no answer in time: is the cluster up and reachable? TROUPE_DEBUG=1 shows where)";
  console.error(`troupe: ${message}`);
  if (process.env.TROUPE_DEBUG && err instanceof Error) console.error(err.stack);
  // exit now: a connection the failed command opened must not keep the process alive
  process.exit(exitCodeOf(err));
});
