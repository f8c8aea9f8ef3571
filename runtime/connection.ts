// NATS connection with the runtime's defaults: reconnect forever, optional wait for the first
// connect, and status changes delivered to a callback (they drive lifecycles, e.g. pause suspicion). A cluster of
// several nats-servers is named by its client URLs joined with commas: the client fails over between them.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ClusterUnreachableError } from "./errors.ts";
import { rememberServers } from "./jetstream-replicas.ts";

export interface ConnectOptions {
  /** One client URL, or several joined with commas (the servers of a NATS cluster). */
  url: string;
  /** The cluster's CA certificate (PEM): the servers require TLS and are verified against it. */
  caFile?: string;
  /** A token, or a role's secret `<user>:<password>` (nats-roles.ts; tokens never hold ':'). */
  token?: string;
  /** Shows in the server's monitoring (client name). */
  name?: string;
  /** Keep dialling until the server appears (default true); false fails fast (CLI). */
  waitOnFirstConnect?: boolean;
  /** Handshake timeout when not waiting for the first connect (ms, default 2000). */
  timeoutMs?: number;
  reconnectWaitMs?: number;
  onStatus?: (status: ConnectionStatus) => void;
}

export type ConnectionStatus = "disconnected" | "reconnecting" | "reconnected" | "closed";

export async function connectNats(opts: ConnectOptions): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: natsServerUrls(opts.url),
      ...credentials(opts.token),
      ...(opts.caFile ? { tls: { caFile: opts.caFile } } : {}),
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: opts.reconnectWaitMs ?? 250,
      reconnectJitter: 50,
      waitOnFirstConnect: opts.waitOnFirstConnect ?? true,
      timeout: opts.timeoutMs ?? 2000,
      noAsyncTraces: true,
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ClusterUnreachableError(`cannot reach nats-server at ${opts.url}: ${why}`, { cause: err });
  }
  rememberServers(nc, natsServerUrls(opts.url).length);
  const onStatus = opts.onStatus;
  if (onStatus) {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") onStatus("disconnected");
        else if (s.type === "reconnecting") onStatus("reconnecting");
        else if (s.type === "reconnect") onStatus("reconnected");
        else if (s.type === "close") onStatus("closed");
      }
    })();
    void nc.closed().then(() => onStatus("closed"));
  }
  return nc;
}

/** nats.js options for a token or a role's `<user>:<password>`. */
function credentials(secret: string | undefined): { token?: string; user?: string; pass?: string } {
  if (!secret) return {};
  const colon = secret.indexOf(":");
  return colon > 0 ? { user: secret.slice(0, colon), pass: secret.slice(colon + 1) } : { token: secret };
}

/** The client URLs of `url`, one or several joined with commas. */
export function natsServerUrls(url: string): string[] {
  return url
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}
