// The `troupe` CLI: every file in deploy/commands/ registers one subcommand.
import { Command } from "commander";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface CommandModule {
  register(program: Command): void;
}

const commandsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "commands");

async function main(): Promise<void> {
  const program = new Command("troupe")
    .description("3D-parallel GPT training as a supervised actor system on NATS")
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));
  const files = readdirSync(commandsDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).sort();
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(commandsDir, file)).href)) as CommandModule;
    mod.register(program);
  }
  await program.parseAsync(process.argv);
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`troupe: ${message}`);
  if (process.env.TROUPE_DEBUG && err instanceof Error) console.error(err.stack);
  process.exit(1);
});
