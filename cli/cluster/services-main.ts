// Entry of the cluster's services process `troupe up` starts beside the host agent: the job service (jobs
// submitted with `troupe train`, each run by a supervised coordinator actor).
//   node --import tsx cli/cluster/services-main.ts --cluster DIR
import { JobService } from "../../actors/jobs/job-service.ts";
import { connectNats } from "../../runtime/connection.ts";
import { EventLog } from "../../runtime/event-log.ts";
import { createRootLogger } from "../../runtime/logger.ts";
import { namespace } from "../../runtime/namespace.ts";
import { Registry } from "../../runtime/registry.ts";
import { resolveConnection } from "./cluster-options.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--cluster");
try {
  const conn = resolveConnection({ cluster: i >= 0 ? args[i + 1] : undefined }, "controller");
  const ns = namespace(conn.clusterId);
  const logger = createRootLogger({ name: "services", destination: 1 });
  const nc = await connectNats({
    url: conn.url,
    token: conn.token,
    caFile: conn.caFile,
    name: "services",
    waitOnFirstConnect: false,
    timeoutMs: 3000,
    onStatus: (s) => logger.info({ status: s }, "nats connection"),
  });
  const service = new JobService({ nc, ns, registry: await Registry.open(nc, ns), events: await EventLog.open(nc, ns), logger });
  await service.start();
  logger.info("job service ready");
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
  });
  await service.stop();
  await nc.drain().catch(() => undefined);
  process.exit(0);
} catch (err) {
  console.error(`troupe services: ${(err as Error).message}`);
  process.exit(1);
}
