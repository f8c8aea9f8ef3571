// `troupe nats-server`: this host's nats-server of a NATS cluster spread over hosts, in the foreground. The first
// host ran `troupe up --listen A --routes B,C`, which made the credentials and certificates; this host has a copy
// of that cluster directory (or the same one on a shared filesystem) and runs its server with the same users and
// TLS files, its JetStream store in <dir>/nats/<name>.
import { existsSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { namespace } from "../../runtime/namespace.ts";
import { authorizationBlock } from "../../runtime/nats-roles.ts";
import { existingClusterTls } from "../../runtime/tls-certs.ts";
import { clusterDir, clusterFile, readClusterInfo, readCredentials } from "../cluster/cluster-file.ts";
import { terminate } from "../cluster/local-cluster.ts";
import { DEFAULT_ROUTE_PORT, isLoopback, parseHostPort, startClusterServers } from "../cluster/nats-cluster.ts";
import { summaryOf } from "../commands-table.ts";
import { UsageError } from "../errors.ts";

interface NatsServerOptions {
  cluster?: string;
  clusterId?: string;
  listen: string;
  routes: string;
  routePort: string;
}

export function register(program: Command): void {
  program
    .command("nats-server")
    .description(summaryOf("nats-server"))
    .option("--cluster <dir>", "a copy of the first host's cluster directory (its creds/ and tls/) (default $TROUPE_CLUSTER or ./.troupe)")
    .option("--cluster-id <id>", "cluster id (default: the one in <dir>/cluster.json, else local)")
    .requiredOption("--listen <addr[:port]>", "address (and client port, default 4222) this server listens on")
    .requiredOption("--routes <host[:port],…>", "the other servers' route addresses (port 6222)")
    .option("--route-port <port>", "this server's route port", String(DEFAULT_ROUTE_PORT))
    .addHelpText(
      "after",
      "\nExample (the first host ran `troupe up --listen 10.0.0.1 --routes 10.0.0.2,10.0.0.3`):\n" +
        "  troupe nats-server --cluster ~/.troupe --listen 10.0.0.2 --routes 10.0.0.1,10.0.0.3\n",
    )
    .action(async (opts: NatsServerOptions) => {
      const dir = clusterDir(opts.cluster);
      const listen = parseHostPort(opts.listen, "--listen");
      const routes = opts.routes.split(",").map((r) => r.trim());
      for (const r of routes) parseHostPort(r, "--routes");
      const routePort = Number(opts.routePort);
      if (!Number.isInteger(routePort) || routePort < 1 || routePort > 65535)
        throw new UsageError(`--route-port must be a port 1-65535, got '${opts.routePort}'`);
      const clusterId = opts.clusterId ?? (existsSync(clusterFile(dir)) ? readClusterInfo(dir).clusterId : "local");
      const passwords = readCredentials(path.join(dir, "creds"));
      const tlsDir = path.join(dir, "tls");
      if (!existsSync(tlsDir) && !isLoopback(listen.host))
        throw new UsageError(`${tlsDir} is missing: copy the first host's cluster directory (creds/ and tls/) here first`);
      const tls = existsSync(tlsDir) ? existingClusterTls(tlsDir) : undefined;
      const started = await startClusterServers(
        dir,
        { servers: 1, ...listen, routes, routePort },
        authorizationBlock(namespace(clusterId), passwords),
        tls,
      );
      const server = started.handles[0]!;
      console.log(
        `nats-server ${started.names[0]} listening on ${server.url} (pid ${server.pid}; routes to ${routes.join(", ")}${tls ? "; TLS" : ""})`,
      );
      console.log(`its log: ${path.join(server.dir, "nats-server.log")}; Ctrl-C stops it`);
      server.process.ref(); // started detached and unreferenced (as `troupe up`'s): this command waits on it
      const how = await new Promise<string>((resolve) => {
        for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve(sig));
        server.process.once("exit", (code, signal) => resolve(`exit ${signal ?? code}`));
      });
      if (how.startsWith("exit")) throw new Error(`nats-server exited (${how.slice(5)}); see ${path.join(server.dir, "nats-server.log")}`);
      await terminate(server.pid, 5000);
    });
}
