// `troupe dashboard`: a web page of the cluster (hosts, the supervision tree, jobs with their charts and recoveries,
// the event stream, controls) and Prometheus metrics at /metrics, served by this process until Ctrl-C.
import type { Command } from "commander";
import { exitCodeForSignal, summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";
import { addClusterOptions, openCluster, resolveConnection, type ClusterOptions } from "../cluster/cluster-options.ts";

export const DEFAULT_DASHBOARD_PORT = 8265;

export function dashboardPort(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535)
    throw new UsageError(`--port must be a port number 0-65535 (0: any free port), got '${text}'`);
  return Number(text);
}

export function register(program: Command): void {
  const cmd = program
    .command("dashboard")
    .summary(summaryOf("dashboard"))
    .description(
      "serve a live web dashboard of the cluster (hosts, actors as a supervision tree, jobs with loss charts and recovery timelines, events, controls) and Prometheus metrics at /metrics; prints a URL with a one-time code that signs a browser in (scripts: Authorization: Bearer <cluster token>); runs until Ctrl-C",
    )
    .option("--port <n>", "port to listen on (0: any free port)", String(DEFAULT_DASHBOARD_PORT))
    .option("--host <address>", "address to listen on; anything but loopback exposes the page to the network", "127.0.0.1");
  addClusterOptions(cmd, { json: false }).action(async (opts: ClusterOptions & { port: string; host: string }) => {
    const port = dashboardPort(opts.port);
    if (opts.host.trim() === "") throw new UsageError("--host must be an address, e.g. 127.0.0.1");
    const { token, url: natsUrl, caFile } = resolveConnection(opts);
    const cluster = await openCluster(opts, "troupe-dashboard");
    const { startDashboard } = await import("../dashboard/start.ts");
    const d = await startDashboard(cluster, { host: opts.host, port, token, natsUrl, caFile }).catch(async (err: unknown) => {
      await cluster.close();
      throw err;
    });
    console.log(`troupe dashboard: ${d.loginUrl}`);
    console.log(`  (the code signs one browser in; afterwards ${d.url} asks for the cluster token. Metrics: ${d.url}metrics)`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    await d.close();
    await cluster.close().catch(() => undefined);
    process.exitCode = exitCodeForSignal(signal);
  });
}
