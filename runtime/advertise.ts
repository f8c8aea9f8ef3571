// The address by which the other hosts reach this one: what a host agent and its workers listen on and publish
// (collective rendezvous). Told (`troupe agent --advertise`), else the local address of the interface that routes to
// the NATS server. Children get it in TROUPE_ADVERTISE; nothing listens on 0.0.0.0.
import dgram from "node:dgram";
import { isIP } from "node:net";

export const ADVERTISE_ENV = "TROUPE_ADVERTISE";

/** The address this process's collectives listen on and advertise: its agent's TROUPE_ADVERTISE, else loopback. */
export function advertisedHost(env: NodeJS.ProcessEnv = process.env): string {
  const a = env[ADVERTISE_ENV]?.trim();
  return a && isIP(a) ? a : "127.0.0.1";
}

/**
 * The local address of the interface that routes to the NATS server of `natsUrl`: a UDP socket "connected" there
 * (no packet is sent) is bound by the kernel to that interface's address.
 */
export async function routeAddress(natsUrl: string): Promise<string> {
  const url = new URL(natsUrl.includes("://") ? natsUrl : `nats://${natsUrl}`);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 4222);
  const socket = dgram.createSocket(isIP(host) === 6 ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, host, () => resolve());
    });
    return socket.address().address;
  } finally {
    socket.close();
  }
}
