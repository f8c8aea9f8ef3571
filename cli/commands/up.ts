// `troupe up`: start a local cluster in the background.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import { isIP } from "node:net";
import os from "node:os";
import { Option, type Command } from "commander";
import { checkName, namespace } from "../../runtime/namespace.ts";
import { clusterDir } from "../cluster/cluster-file.ts";
import { upCluster } from "../cluster/local-cluster.ts";
import { parseHostPort } from "../cluster/nats-cluster.ts";
import { DEFAULT_DASHBOARD_PORT, dashboardPort } from "./dashboard.ts";

function count(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

interface UpOptions {
  cluster?: string;
  dir?: string;
  clusterId: string;
  actors: string;
  slots?: string;
  name: string;
  json?: boolean;
  dashboard?: string | true;
  listen: string;
  natsServers: string;
  routes?: string;
  routePort?: string;
  tls?: boolean;
}

/** --listen ADDR[:PORT]: an IP address (IPv6 in brackets when a port follows) and an optional port. */
export function parseListen(value: string): { host: string; port?: number } {
  const v = value.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  const [host, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : isIP(v) === 6 || !v.includes(":")
      ? [v, undefined]
      : [v.slice(0, v.lastIndexOf(":")), v.slice(v.lastIndexOf(":") + 1)];
  const n = port === undefined ? undefined : Number(port);
  if (isIP(host) === 0 || (n !== undefined && (!/^\d+$/.test(port!) || n < 1 || n > 65535)))
    throw new UsageError(`--listen must be ADDR or ADDR:PORT with an IP address, e.g. 10.0.0.5:4222, got '${value}'`);
  return n === undefined ? { host } : { host, port: n };
}

/** --routes a,b:6223,[::1]: the other hosts' route addresses, each a host (name or IP) and an optional port. */
function parseRoutes(value: string): string[] {
  const routes = value.split(",").map((r) => r.trim());
  for (const r of routes) parseHostPort(r, "--routes");
  if (routes.length === 0 || routes.some((r) => r === "")) throw new UsageError(`--routes must list host[:port] addresses, got '${value}'`);
  return routes;
}

function portOf(name: string, value: string): number {
  const n = count(name, value, 1);
  if (n > 65535) throw new UsageError(`${name} must be a port 1-65535, got '${value}'`);
  return n;
}

/** The dashboard's sign-in URL, or undefined (and why on stderr) when it did not start: the cluster is up either way. */
async function backgroundDashboard(dir: string, port: number): Promise<string | undefined> {
  const { startBackgroundDashboard } = await import("../dashboard/background.ts");
  try {
    return await startBackgroundDashboard(dir, { port, host: "127.0.0.1" });
  } catch (err) {
    process.stderr.write(`troupe: the cluster is up, but its dashboard did not start: ${(err as Error).message}\n`);
    return undefined;
  }
}

export function register(program: Command): void {
  program
    .command("up")
    .description(summaryOf("up"))
    .option("--cluster <dir>", "cluster directory (default $TROUPE_CLUSTER or ./.troupe)")
    .addOption(new Option("--dir <dir>", "old name of --cluster").hideHelp())
    .option("--cluster-id <id>", "cluster id: namespaces subjects, buckets and streams", "local")
    .option("--actors <n>", "also start a demo supervisor with N generic actors (a0 … aN-1)", "0")
    .option("--slots <n>", "slots of the host agent (default: CPU count; 0: a host that runs no workers)")
    .option("--listen <addr[:port]>", "address (and port) nats-server listens on; other hosts' agents connect there", "127.0.0.1")
    .option("--nats-servers <n>", "nats-servers to start here, joined in a NATS cluster (JetStream keeps min(3, N) copies)", "1")
    .option("--routes <host[:port],…>", "this host runs one server of a NATS cluster; the other hosts' route addresses (port 6222)")
    .option("--route-port <port>", "with --routes: this server's route port", "6222")
    .option("--tls", "TLS also on loopback (beyond loopback it always is): a cluster CA and server certificate in <dir>/tls")
    .option("--name <host>", "host name of the agent", os.hostname().replace(/[^A-Za-z0-9_-]/g, "-"))
    .option("--json", "print the cluster info as JSON")
    .option("--dashboard [port]", "also start `troupe dashboard` in the background (default port 8265) and print its URL")
    .addHelpText(
      "after",
      "\nThen: troupe train CONFIG (submitted to this cluster), troupe jobs, troupe ps, troupe down.\nWith --actors N: troupe kill a1 and watch its supervisor bring it back.\n",
    )
    .action(async (opts: UpOptions) => {
      namespace(opts.clusterId);
      const dashboardAt =
        opts.dashboard === undefined ? undefined : opts.dashboard === true ? DEFAULT_DASHBOARD_PORT : dashboardPort(opts.dashboard);
      checkName("host name", opts.name);
      const listen = parseListen(opts.listen);
      const dir = clusterDir(opts.cluster ?? opts.dir);
      const routes = opts.routes === undefined ? undefined : parseRoutes(opts.routes);
      const info = await upCluster({
        natsServers: count("--nats-servers", opts.natsServers, 1),
        ...(routes ? { routes, routePort: portOf("--route-port", opts.routePort ?? "6222") } : {}),
        tls: opts.tls === true,
        onWaiting: (what) => process.stderr.write(`troupe: ${what}\n`),
        dir,
        clusterId: opts.clusterId,
        actors: count("--actors", opts.actors, 0),
        slots: opts.slots === undefined ? undefined : count("--slots", opts.slots, 0),
        hostName: opts.name,
        listen,
      });
      const dashboard = dashboardAt === undefined ? undefined : await backgroundDashboard(dir, dashboardAt);
      if (opts.json) {
        console.log(JSON.stringify({ dir, ...info, ...(dashboard ? { dashboard } : {}) }));
        return;
      }
      console.log(`cluster '${info.clusterId}' up in ${dir}`);
      for (const s of info.natsServers)
        console.log(`  nats-server  ${s.url} (${s.name}, pid ${s.pid}, credentials per role in ${info.credsDir ?? info.tokenFile})`);
      if (info.caFile) console.log(`  tls          clients verify the servers with ${info.caFile}`);
      console.log(`  host agent   ${opts.name} (pid ${info.agentPid})`);
      console.log(`  job service  pid ${info.servicesPid} (troupe train submits here; troupe jobs lists them)`);
      if (dashboard) console.log(`  dashboard    ${dashboard} (troupe down stops it)`);
      if (info.supervisorPid) console.log(`  supervisor   demo with ${opts.actors} generic actors (pid ${info.supervisorPid})`);
      console.log(
        info.supervisorPid
          ? "next: troupe ps --watch · troupe kill a1 · troupe events -f · troupe down"
          : "next: troupe train examples/brown-3d.yaml --detach · troupe jobs · troupe ps · troupe down",
      );
    });
}
