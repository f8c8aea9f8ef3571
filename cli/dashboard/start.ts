// Starts a dashboard on an open cluster: the view's watches, the metrics fed from them, the HTTP server listening.
// Resolves once it listens, with the URL (and its one-time code) to open and a way to stop it all.
import type { AddressInfo } from "node:net";
import type { OpenCluster } from "../cluster/cluster-options.ts";
import { DashboardAuth } from "./auth.ts";
import { ClusterView } from "./cluster-view.ts";
import { DashboardMetrics } from "./metrics.ts";
import { dashboardServer } from "./server.ts";

export interface RunningDashboard {
  /** The address it listens on, e.g. http://127.0.0.1:8265/ */
  url: string;
  /** The same with a one-time code that signs a browser in. */
  loginUrl: string;
  close(): Promise<void>;
}

class DashboardListenError extends Error {
  override name = "DashboardListenError";
}

export async function startDashboard(
  cluster: OpenCluster,
  o: { host: string; port: number; token?: string; natsUrl?: string; caFile?: string | undefined },
): Promise<RunningDashboard> {
  const ctl = new AbortController();
  const metrics = new DashboardMetrics();
  const probe = o.natsUrl === undefined ? undefined : { url: o.natsUrl, token: o.token, caFile: o.caFile };
  const view = await ClusterView.start(cluster, ctl.signal, metrics.take, probe);
  metrics.attach(view);
  const auth = new DashboardAuth(o.token);
  const server = dashboardServer({ cluster, view, auth, metrics });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, o.host, () => resolve());
    });
  } catch (err) {
    ctl.abort();
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "EADDRINUSE" ? "is in use (choose another with --port)" : `cannot be used: ${e.message}`;
    throw new DashboardListenError(`${o.host}:${o.port} ${why}`, { cause: err });
  }
  const { port } = server.address() as AddressInfo;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}/`;
  return {
    url,
    loginUrl: `${url}?code=${auth.newCode()}`,
    close: async () => {
      ctl.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
