// `troupe dashboard` (started by `troupe up --dashboard`) in a real browser (Debian's headless Chromium, driven by playwright-core) against a cluster
// `troupe up` started and a dp 2 job submitted to it (real nats-server, agent, coordinator and worker processes):
// nothing without credentials (401; the worker's credential opens no control), the one-time URL signs the browser in,
// the page shows the workers with their busy time, the loss chart and the model FLOP/s, a kill from the page
// (confirmed) fails a worker that the page then shows restarting, alive again and as a recovery bar; /metrics has
// the troupe_ metrics; stopping the job from the page stops it. Screenshots go to docs/images/ with
// TROUPE_SCREENSHOTS=1.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readClusterInfo } from "../../cli/cluster/cluster-file.ts";
import { chromiumPath } from "./chromium.ts";
import { tinyDp2Yaml } from "../distributed/fixtures/tiny-job-yaml.ts";
import { gptParameterLayout } from "../../ml/model/param-layout.ts";

/** The model tinyDp2Yaml trains (layers 1, d 16, 2 heads, seq 16, vocab 300): its parameter count. */
const tinyParameters = gptParameterLayout({ layers: 1, dModel: 16, heads: 2, seqLen: 16, vocabSize: 300 }).reduce(
  (n, p) => n + p.shape.reduce((a, b) => a * b, 1),
  0,
);

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, "../..");
const bin = path.join(repo, "bin/troupe.js");
const root = mkdtempSync(path.join(os.tmpdir(), "troupe-dash-"));
const cluster = path.join(root, ".troupe");
const config = path.join(root, "tiny-dp2.yaml");
/** TROUPE_SCREENSHOTS=1 writes the screenshots for the docs into docs/images; otherwise they go to the temp dir. */
const images = process.env.TROUPE_SCREENSHOTS ? path.join(repo, "docs/images") : root;
const WAIT = 120_000;

async function troupe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args, "--cluster", cluster], { cwd: repo, timeout: 240_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let loginUrl = "";
let base = "";
let token = "";
let browser: Browser;
let page: Page;

beforeAll(async () => {
  writeFileSync(config, tinyDp2Yaml({ name: "dash", steps: 100000, evalEvery: 40, checkpointEvery: 1000 }));
  const executablePath = chromiumPath();
  // the dashboard `troupe up --dashboard` starts in the background (a `troupe dashboard` process; down stops it)
  const up = await troupe("up", "--dashboard", "0");
  expect(up.stderr).toBe("");
  loginUrl = /^ {2}dashboard {4}(http:\/\/127\.0\.0\.1:\d+\/\?code=\S+) \(troupe down stops it\)$/m.exec(up.stdout)?.[1] ?? "";
  expect(loginUrl, up.stdout).not.toBe("");
  token = readFileSync(readClusterInfo(cluster).tokenFile, "utf8").trim();
  const submitted = await troupe("train", config, "--detach", "--name", "dash", "--run-dir", path.join(root, "dash"), "--no-samples");
  expect(submitted.code).toBe(0);
  base = loginUrl.slice(0, loginUrl.indexOf("?"));
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await troupe("down"); // already down when the last test passed
  rmSync(root, { recursive: true, force: true });
}, 60_000);

const wrongToken = { Authorization: "Bearer not-the-token" };

describe("troupe dashboard", { timeout: 300_000 }, () => {
  it("serves nothing without credentials: 401 for the page, the stream, /metrics and a wrong token", async () => {
    for (const p of ["", "api/stream", "metrics", "app.js"]) expect((await fetch(base + p)).status).toBe(401);
    expect((await fetch(base + "metrics", { headers: wrongToken })).status).toBe(401);
    const html = await fetch(base, { headers: { Accept: "text/html" } });
    expect(html.status).toBe(401);
    expect(await html.text()).toMatch(/Cluster token/);
    expect((await fetch(`${base}?code=not-a-code`)).status).toBe(401);
    // another role's credential of this cluster is not the operator's: no control with it
    const worker = readFileSync(path.join(cluster, "creds", "worker"), "utf8").trim();
    const asWorker = { Authorization: `Bearer ${worker}`, "Content-Type": "application/json" };
    const body = JSON.stringify({ action: "stop", job: "dash" });
    expect((await fetch(base + "api/control", { method: "POST", headers: asWorker, body })).status).toBe(401);
  });

  it("the one-time URL signs the browser in (once); the page shows the job's workers and the loss chart has points", async () => {
    await page.goto(loginUrl);
    expect(page.url()).toBe(base);
    expect((await fetch(loginUrl, { redirect: "manual" })).status).toBe(401); // used
    await page.goto(base + "#actors");
    for (const w of ["dash-w0", "dash-w1"]) await page.waitForSelector(`tr[data-actor="${w}"][data-state="alive"]`, { timeout: WAIT });
    await page.waitForSelector('tr[data-actor="dash-coordinator"][data-state="alive"]', { timeout: WAIT });
    await page.goto(base + "#job");
    await page.waitForSelector('.cell[data-worker="dash-w0"]', { timeout: WAIT });
    await page.waitForSelector('.cell[data-worker="dash-w1"]', { timeout: WAIT });
    await expect
      .poll(async () => Number(await page.locator("#chart-loss").getAttribute("data-points")), { timeout: WAIT })
      .toBeGreaterThanOrEqual(45); // past the first validation (eval interval 40)
    expect(await page.locator("#chart-loss canvas").count()).toBeGreaterThan(0);
    expect(await page.locator("#job-summary").textContent()).toMatch(/· [\d.]+ [kMGT]?model FLOP\/s$/);
    await page.waitForSelector('.cell[data-worker="dash-w1"] .busy[data-busy-ms]', { timeout: WAIT });
  });

  it("the job page shows each worker's collective bytes: a dp 2 all-reduce of the gradients per step, 2·(n−1)/n·4P each way", async () => {
    await page.goto(base + "#job");
    // ring (or direct-exchange) all-reduce of P fp32 gradients over n = 2 replicas: each worker sends and receives
    // 2·(n−1)/n·4P bytes a step; frame headers add a few bytes per bucket
    const expected = ((2 * (2 - 1)) / 2) * 4 * tinyParameters;
    for (const w of ["dash-w0", "dash-w1"]) {
      const row = page.locator(`#collectives tr[data-worker="${w}"]`);
      await row.waitFor({ timeout: WAIT });
      for (const side of ["data-sent-bytes", "data-received-bytes"]) {
        const bytes = Number(await row.getAttribute(side));
        expect(bytes / expected, `${w} ${side} ${bytes} for ${tinyParameters} parameters`).toBeGreaterThanOrEqual(1);
        expect(bytes / expected).toBeLessThan(1.02);
      }
      expect(Number(await row.getAttribute("data-total-bytes"))).toBeGreaterThan(4 * expected);
    }
  });

  it("kill from the page, confirmed: the worker fails, restarts, runs again, and a recovery bar appears", async () => {
    await page.goto(base + "#actors");
    const row = page.locator('tr[data-actor="dash-w1"]');
    await row.locator('button[data-action="kill"][data-signal="SIGKILL"]').click();
    await page.locator("#confirm[open]").waitFor();
    expect(await page.locator("#confirm-text").textContent()).toMatch(/SIGKILL to dash-w1/);
    await page.locator("#confirm-ok").click();
    await page.waitForSelector('tr[data-actor="dash-w1"][data-restarts="1"][data-state="alive"]', { timeout: WAIT });
    await page.locator('[data-pick-actor="dash-w1"]').click();
    await expect
      .poll(() => page.locator("#detail-seen").textContent(), { timeout: WAIT })
      .toMatch(/alive → failed → .*restarting.* → alive/);
    await expect.poll(async () => (await page.locator("#detail-log").textContent()) ?? "", { timeout: WAIT }).not.toBe("");
    await page.goto(base + "#job");
    const bar = page.locator('.recovery-bar[data-actor="dash-w1"]');
    await bar.waitFor({ timeout: WAIT });
    expect(await bar.textContent()).toMatch(/dash-w1 .*SIGKILL.*→ peer dash-w0/);
    await page.screenshot({ path: path.join(images, "dashboard-job.png") });
    await page.goto(base + "#events");
    await page.locator("#event-filter").fill("dash-w1");
    await page.waitForSelector('#events tr[data-type="operator.kill"][data-subject="dash-w1"]', { timeout: WAIT });
    expect(await page.locator('#events tr[data-type="operator.kill"]').first().textContent()).toMatch(/signal=SIGKILL.*by=dashboard/);
    await page.waitForSelector('#events tr[data-type="actor.transition"][data-subject="dash-w1"]:has-text("to=failed")', { timeout: WAIT });
    await page.goto(base + "#actors");
    await page.locator('[data-pick-actor="dash-w1"]').click();
    await page.locator("#detail-title").filter({ hasText: "dash-w1" }).waitFor();
    await page.locator("header").scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(images, "dashboard-actors.png") });
  });

  it("/metrics (with the cluster's token) has the job's step, loss, tokens/s, the restart and the recovery", async () => {
    const text = await (await fetch(base + "metrics", { headers: { Authorization: `Bearer ${token}` } })).text();
    expect(text).toMatch(/^troupe_job_step\{job="dash"\} \d+$/m);
    expect(text).toMatch(/^troupe_job_loss\{job="dash"\} [\d.]+$/m);
    expect(text).toMatch(/^troupe_job_tokens_per_second\{job="dash"\} [\d.]+$/m);
    expect(text).toMatch(/^troupe_job_model_flops_per_second\{job="dash"\} [\d.e+]+$/m);
    expect(text).toMatch(/^troupe_actor_restarts_total\{actor="dash-w1"\} 1$/m);
    expect(text).toMatch(/^troupe_recovery_seconds_count\{job="dash"\} 1$/m);
    expect(text).toMatch(/^troupe_actor_heartbeat_age_seconds\{actor="dash-w0",state="alive"\} [\d.e-]+$/m);
    const sent = /^troupe_collective_bytes_total\{job="dash",worker="dash-w0",direction="sent"\} (\d+)$/m.exec(text);
    expect(Number(sent?.[1])).toBeGreaterThan(4 * tinyParameters * 10); // more than ten steps' gradients
    const seconds = /^troupe_collective_seconds_total\{job="dash",worker="dash-w1"\} ([\d.e-]+)$/m.exec(text);
    expect(Number(seconds?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^troupe_host_warm_spares\{host="[^"]+"\} \d+$/m);
    expect(text).toMatch(/^troupe_nats_server_up\{server="127\.0\.0\.1:\d+"\} 1$/m);
  });

  it("restart replica 1 from the job page, confirmed: its worker restarts live, recorded as operator.restart", async () => {
    await page.goto(base + "#job");
    await page.locator('button[data-action="restart-group"][data-replica="1"]').click();
    expect(await page.locator("#confirm-text").textContent()).toMatch(/data-parallel replica 1 of dash/);
    await page.locator("#confirm-ok").click();
    await expect.poll(() => page.locator("#toast").textContent(), { timeout: WAIT }).toBe("restart-group dash: done");
    await page.goto(base + "#actors");
    await page.waitForSelector('tr[data-actor="dash-w1"][data-restarts="2"][data-state="alive"]', { timeout: WAIT });
    expect((await troupe("events", "--actor", "dash-w1")).stdout).toMatch(/operator\.restart\s+dash-w1/);
  });

  it("stop from the page, confirmed: the job stops with a checkpoint; the control is recorded", async () => {
    await page.goto(base + "#cluster");
    await page.locator('#nats-health[data-state="up"]').waitFor({ timeout: WAIT });
    expect(await page.locator("#nats-health").textContent()).toMatch(/^nats-server \S+:\d+: version [\d.]+, JetStream on, round trip/);
    await page.locator("tr[data-host] td").first().waitFor();
    // the host agent keeps a warm spare of the job's workers (started a few seconds after they were)
    await page.locator("tr[data-host] td.spares[data-spares-ready='1'][data-spares-target='1']").waitFor({ timeout: WAIT });
    await page.locator('#nats-servers tr[data-state="up"]').waitFor({ timeout: WAIT });
    expect(await page.locator("#nats-servers tbody tr").count()).toBe(1);
    expect(await page.locator("#nats-servers tbody tr").textContent()).toMatch(/^127\.0\.0\.1:\d+ \(this dashboard's\)up/);
    await page.screenshot({ path: path.join(images, "dashboard-cluster.png") });
    await page.locator('tr[data-job="dash"] button[data-action="stop"]').click();
    await page.locator("#confirm-ok").click();
    await page.waitForSelector('tr[data-job="dash"][data-state="stopped"]', { timeout: WAIT });
    const jobs = JSON.parse((await troupe("jobs", "--json")).stdout) as { id: string; state: string; checkpoint: string | null }[];
    expect(jobs.find((j) => j.id === "dash")).toMatchObject({ state: "stopped" });
    // among the stream's last events (all of them would be one commit per step of the job)
    const events = (await troupe("events", "--actor", "dash", "-n", "500")).stdout;
    expect(events).toMatch(/operator\.stop\s+dash\s+.*by=dashboard/);
  });

  it("a bad --port is a usage error (exit 2, one line); a port in use fails with exit 1", async () => {
    const bad = await troupe("dashboard", "--port", "http");
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe("troupe: --port must be a port number 0-65535 (0: any free port), got 'http'");
    const upBad = await troupe("up", "--dashboard", "http");
    expect(upBad.code).toBe(2);
    expect(upBad.stderr.trim()).toBe(bad.stderr.trim());
    const taken = await troupe("dashboard", "--port", new URL(base).port);
    expect(taken.code).toBe(1);
    expect(taken.stderr.trim()).toMatch(/^troupe: 127\.0\.0\.1:\d+ is in use \(choose another with --port\)$/);
  });

  it("troupe down stops the dashboard troupe up started", async () => {
    const pid = Number(readFileSync(path.join(cluster, "dashboard.pid"), "utf8"));
    expect((await troupe("down")).code).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(fetch(base)).rejects.toThrow();
  });
});
