// The `troupe` CLI restricted to the runtime's commands, for tests: same registration and error
// handling as cli/main.ts, but a command module of another area that fails to load (e.g. while
// its native addon is being rebuilt) cannot break the runtime's CLI tests.
import { Command } from "commander";
import * as agent from "../../cli/commands/agent.ts";
import * as down from "../../cli/commands/down.ts";
import * as events from "../../cli/commands/events.ts";
import * as inspect from "../../cli/commands/inspect.ts";
import * as kill from "../../cli/commands/kill.ts";
import * as logs from "../../cli/commands/logs.ts";
import * as ps from "../../cli/commands/ps.ts";
import * as restart from "../../cli/commands/restart.ts";
import * as up from "../../cli/commands/up.ts";

const program = new Command("troupe").showHelpAfterError().exitOverride((err) => process.exit(err.exitCode));
for (const mod of [agent, down, events, inspect, kill, logs, ps, restart, up]) mod.register(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`troupe: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
