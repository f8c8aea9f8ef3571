// The supervisor `troupe up --actors N` starts: N generic actors (a0 … aN-1) under one_for_one, so
// a fresh local cluster has something to `ps`, `kill` and `restart`. Stops its actors on SIGTERM.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { validateBackoff, validateIntensity } from "../../runtime/backoff.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { Supervisor } from "../../runtime/supervisor.ts";
import { validateTimeouts } from "../../runtime/timeouts.ts";
import { resolveConnection } from "./cluster-options.ts";

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const count = Number(arg("--actors", "3"));
const conn = resolveConnection({ cluster: arg("--cluster", ".troupe") }, "controller");
const ns = namespace(conn.clusterId);
const logger = createRootLogger({ name: "supervisor", destination: 1 });
const genericActor = path.join(path.dirname(fileURLToPath(import.meta.url)), "generic-actor.ts");

let supervisor: Supervisor | undefined;
const nc = await connectNats({
  url: conn.url,
  token: conn.token,
  caFile: conn.caFile,
  name: "demo-supervisor",
  onStatus: (s) => supervisor?.connectionChanged(s),
});
const registry = await Registry.open(nc, ns);
const events = await EventLog.open(nc, ns);
supervisor = new Supervisor(
  { nc, ns, registry, events, logger },
  {
    id: "demo",
    strategy: "one_for_one",
    intensity: validateIntensity({ maxRestarts: 10, periodMs: 60_000 }),
    backoff: validateBackoff(),
    timeouts: validateTimeouts(),
    children: Array.from({ length: count }, (_, k) => ({
      id: `a${k}`,
      coords: { d: k },
      argv: ["node", "--import", "tsx", genericActor],
    })),
  },
);
await supervisor.start();
const sup = supervisor;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    void sup
      .stop("cluster shut down")
      .then(() => nc.drain())
      .finally(() => process.exit(0));
  });
}
