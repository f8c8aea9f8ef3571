// The `troupe` CLI: every file in cli/commands/ registers one subcommand.
import { Command } from "commander";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface CommandModule {
  register(program: Command): void;
}

const commandsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "commands");

function registerBroken(program: Command, name: string, err: unknown): void {
  const reason = err instanceof Error ? err.message : String(err);
  program
    .command(name)
    .description(`(unavailable: ${reason.split("\n")[0]})`)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new Error(`the '${name}' command could not be loaded: ${reason}`);
    });
}

async function main(): Promise<void> {
  const program = new Command("troupe")
    .description("3D-parallel GPT training as a supervised actor system on NATS")
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));
  const files = readdirSync(commandsDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).sort();
  for (const file of files) {
    try {
      const mod = (await import(pathToFileURL(path.join(commandsDir, file)).href)) as CommandModule;
      mod.register(program);
    } catch (err) {
      // One broken command (say, the native addon is being rebuilt) must not take the whole CLI down:
      // the command is still listed, and running it reports why it cannot load.
      registerBroken(program, file.slice(0, -3), err);
    }
  }
  await program.parseAsync(process.argv);
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`troupe: ${message}`);
  if (process.env.TROUPE_DEBUG && err instanceof Error) console.error(err.stack);
  process.exit(1);
});
