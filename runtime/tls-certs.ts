// The TLS files of a cluster (`troupe up` on a non-loopback address, or with --tls): a cluster CA and one server
// certificate signed by it, for every nats-server of the cluster (client and route connections), with the listen
// addresses and host names as subject alternative names. ECDSA P-256 keys made by Node's WebCrypto; the
// certificates built by @peculiar/x509. Keys are written mode 0600, in a folder of mode 0700.
import "reflect-metadata"; // @peculiar/x509's dependency injection needs the polyfill loaded first
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { ConfigError } from "./errors.ts";
import type { NatsTlsFiles } from "./nats-server.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 24 * 3600 * 1000;

/** The files of a cluster's TLS folder. */
function tlsFilesIn(dir: string): NatsTlsFiles & { caKeyFile: string } {
  return {
    caFile: path.join(dir, "ca.pem"),
    caKeyFile: path.join(dir, "ca-key.pem"),
    certFile: path.join(dir, "server.pem"),
    keyFile: path.join(dir, "server-key.pem"),
  };
}

function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600); // an older file keeps its mode through writeFileSync
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n")}\n-----END PRIVATE KEY-----\n`;
}

/** Subject alternative names for `names`: each an IP address or a DNS name; anything else is refused by name. */
function altNames(names: string[]): x509.SubjectAlternativeNameExtension {
  const entries = [...new Set(names)].map((n): x509.JsonGeneralName => {
    if (isIP(n)) return { type: "ip", value: n };
    if (/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(n)) return { type: "dns", value: n };
    throw new ConfigError(`'${n}' is neither an IP address nor a host name; it cannot go in the server certificate`);
  });
  return new x509.SubjectAlternativeNameExtension(entries);
}

export interface MakeTlsOptions {
  /** The folder for the files (created, mode 0700). */
  dir: string;
  /** Addresses and host names the servers are reached at; 127.0.0.1 and localhost are always added. */
  hosts: string[];
  /** Name in the certificates' subjects (the cluster id). */
  clusterId: string;
  /** Validity of the certificates in days (default 825). */
  days?: number;
}

/**
 * A new cluster CA and server certificate in `dir` (ca.pem, ca-key.pem, server.pem, server-key.pem). Any files
 * there are replaced: this is also how they are rotated.
 */
export async function makeClusterTls(o: MakeTlsOptions): Promise<NatsTlsFiles> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  chmodSync(o.dir, 0o700);
  const files = tlsFilesIn(o.dir);
  const notBefore = new Date(Date.now() - 60_000); // a peer's clock slightly behind still accepts it
  const notAfter = new Date(Date.now() + (o.days ?? 825) * DAY_MS);
  const caKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const caName = `CN=troupe cluster CA ${o.clusterId}`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=troupe nats-server ${o.clusterId}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      // serverAuth for clients and dialled routes, clientAuth for the routes it dials (they verify both ways)
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      altNames([...o.hosts, "127.0.0.1", "localhost"]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  });
  writeFileSync(files.caFile, ca.toString("pem") + "\n", { mode: 0o644 });
  writePrivate(files.caKeyFile, await pkcs8Pem(caKeys.privateKey));
  writeFileSync(files.certFile, server.toString("pem") + "\n", { mode: 0o644 });
  writePrivate(files.keyFile, await pkcs8Pem(serverKeys.privateKey));
  return { caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile };
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // a positive serial number
  return Buffer.from(bytes).toString("hex");
}

/** The TLS files of `dir` when they are all there and the certificate still valid, else a clear error. */
export function existingClusterTls(dir: string): NatsTlsFiles {
  const f = tlsFilesIn(dir);
  for (const file of [f.caFile, f.certFile, f.keyFile])
    if (!existsSync(file)) throw new ConfigError(`${file} is missing: copy ${dir} from the host that ran \`troupe up\``);
  return { caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile };
}
