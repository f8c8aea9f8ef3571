// Entry of the host agent `troupe up` starts: node --import tsx agent-main.ts --cluster DIR --name HOST [--slots N]
import { runAgent } from "./run-agent.ts";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const slots = arg("--slots");
try {
  await runAgent({ cluster: arg("--cluster"), name: arg("--name"), slots: slots === undefined ? undefined : Number(slots) });
  process.exit(0);
} catch (err) {
  console.error(`troupe agent: ${(err as Error).message}`);
  process.exit(1);
}
