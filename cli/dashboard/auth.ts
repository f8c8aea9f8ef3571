// Who may see the dashboard: a browser that opened the one-time URL the CLI printed (or posted the cluster's token
// to /login) holds an HttpOnly session cookie; a script sends `Authorization: Bearer <cluster token>`. Nothing else
// gets past a 401. The controls need the operator's credential (403 otherwise): a dashboard started with another
// role's secret (`--token-file creds/worker`) only shows.
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ROLES } from "../../runtime/nats-roles.ts";

const COOKIE = "troupe_dashboard";

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class DashboardAuth {
  private readonly codes = new Set<string>();
  private readonly sessions = new Set<string>();

  /** `token`: the cluster's NATS token (absent for a cluster reached with --nats and no token file). */
  constructor(private readonly token: string | undefined) {}

  /** A fresh code for the URL the CLI prints; it works once. */
  newCode(): string {
    const code = randomBytes(18).toString("base64url");
    this.codes.add(code);
    return code;
  }

  /** True when the request carries a session cookie or the cluster's token. */
  allowed(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ") && this.token !== undefined && same(auth.slice(7).trim(), this.token)) return true;
    const session = cookie(req, COOKIE);
    return session !== undefined && this.sessions.has(session);
  }

  /**
   * Whether a signed-in request may use the controls: every session was opened with the dashboard's own credential
   * (the one-time code stands for it: only its holder could start the CLI that printed the code), so it is whether
   * that credential is the operator's. A cluster's single token (no role in it) is everyone's, the operator's too.
   */
  get controlsAllowed(): boolean {
    return this.role === undefined || this.role === "operator";
  }

  /** The role of the dashboard's credential (`<role>:<password>` on a `troupe up` cluster), if it has one. */
  get role(): string | undefined {
    const prefix = this.token?.slice(0, Math.max(0, this.token.indexOf(":")));
    return prefix && (ROLES as readonly string[]).includes(prefix) ? prefix : undefined;
  }

  /** Trades a one-time code for a session cookie; false when the code is unknown or used. */
  redeemCode(code: string, res: ServerResponse): boolean {
    if (!this.codes.delete(code)) return false;
    this.startSession(res);
    return true;
  }

  /** Trades the cluster's token (the login form) for a session cookie. */
  redeemToken(token: string, res: ServerResponse): boolean {
    if (this.token === undefined || !same(token.trim(), this.token)) return false;
    this.startSession(res);
    return true;
  }

  private startSession(res: ServerResponse): void {
    const id = randomBytes(24).toString("base64url");
    this.sessions.add(id);
    res.setHeader("Set-Cookie", `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`);
  }
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
