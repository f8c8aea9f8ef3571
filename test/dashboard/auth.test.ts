// Who may use the dashboard's controls, over HTTP against its real server (no cluster: these requests are answered
// before any reaches it): another role's secret is a 401, and a dashboard running with a role other than the
// operator's refuses the controls (403) even to its own signed-in sessions.
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DashboardAuth } from "../../cli/dashboard/auth.ts";
import { dashboardServer, type DashboardParts } from "../../cli/dashboard/server.ts";

const servers: { close(): void }[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function serve(token: string): Promise<{ url: string; auth: DashboardAuth }> {
  const auth = new DashboardAuth(token);
  const server = dashboardServer({ auth } as unknown as DashboardParts);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, auth };
}

const control = (url: string, secret: string) =>
  fetch(url + "api/control", {
    method: "POST",
    headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/json" },
    body: JSON.stringify({ action: "stop", job: "j" }),
  });

describe("dashboard roles", () => {
  it("the worker's secret is refused (401) by a dashboard of the operator; the operator's credential may control", async () => {
    const { url, auth } = await serve("operator:op-secret");
    expect(auth.role).toBe("operator");
    expect(auth.controlsAllowed).toBe(true);
    expect((await control(url, "worker:wk-secret")).status).toBe(401);
    expect((await control(url, "controller:ct-secret")).status).toBe(401);
  });

  it("a dashboard started with the worker's credential refuses the controls (403), to its bearer and its code's session", async () => {
    const { url, auth } = await serve("worker:wk-secret");
    expect(auth.controlsAllowed).toBe(false);
    const r = await control(url, "worker:wk-secret");
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: string }).error).toMatch(/operator's credential; this dashboard runs as 'worker'/);
    const signIn = await fetch(`${url}?code=${auth.newCode()}`, { redirect: "manual" });
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const viaCookie = await fetch(url + "api/control", {
      method: "POST",
      headers: { Cookie: cookie, "Content-Type": "application/json" },
      body: JSON.stringify({ action: "stop", job: "j" }),
    });
    expect(viaCookie.status).toBe(403);
  });

  it("a cluster's single token (no role) is everyone's credential, the operator's included", () => {
    expect(new DashboardAuth("a-plain-token").controlsAllowed).toBe(true);
    expect(new DashboardAuth("a-plain-token").role).toBeUndefined();
  });
});
