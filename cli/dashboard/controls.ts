// The dashboard's controls, each the same call its command makes (troupe kill, restart, stop), so that a click and
// a command line are recorded alike: operator.kill, operator.restart, and operator.stop for a stop asked here.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { requestJobStop } from "../../actors/jobs/job-control.ts";
import type { OpenCluster } from "../cluster/cluster-options.ts";
import { issueText } from "../../runtime/zod-issue.ts";
import { killActor } from "../commands/kill.ts";
import { restartActor, restartJobWorkers } from "../commands/restart.ts";

const RESTART_TIMEOUT_MS = 120_000;
const BY = "dashboard";

const controlSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("kill"), actor: z.string().min(1), signal: z.enum(["SIGKILL", "SIGSTOP", "SIGCONT", "SIGTERM"]) }),
  z.object({ action: z.literal("restart"), actor: z.string().min(1) }),
  z.object({
    action: z.literal("restart-group"),
    job: z.string().min(1),
    stage: z.number().int().min(0).optional(),
    replica: z.number().int().min(0).optional(),
  }),
  z.object({ action: z.literal("stop"), job: z.string().min(1) }),
]);

export class ControlRequestError extends Error {
  override name = "ControlRequestError";
}

/** Runs one control request (a parsed JSON body); answers what the command would print, as an object. */
export async function runControl(c: OpenCluster, body: unknown): Promise<Record<string, unknown>> {
  const parsed = controlSchema.safeParse(body);
  if (!parsed.success) throw new ControlRequestError(`bad control request: ${issueText(parsed.error)}`);
  const r = parsed.data;
  switch (r.action) {
    case "kill":
      return { actor: r.actor, signal: r.signal, ...(await killActor(c, r.actor, r.signal, BY)) };
    case "restart":
      return { actor: r.actor, ...(await restartActor(c, r.actor, "dashboard", RESTART_TIMEOUT_MS)) };
    case "restart-group": {
      if (r.stage === undefined && r.replica === undefined) throw new ControlRequestError("restart-group needs a stage or a replica");
      const sel = { stage: r.stage, replica: r.replica };
      return { job: r.job, ...(await restartJobWorkers(c, r.job, sel, "dashboard", RESTART_TIMEOUT_MS)) };
    }
    case "stop": {
      const reason = "stopped by an operator (dashboard)";
      const asked = await requestJobStop(c.nc, c.ns, r.job, reason);
      await c.events.publish(
        { type: "operator.stop", subject: r.job, time: Date.now(), data: { reason, step: asked.step, by: BY } },
        randomUUID(),
      );
      return { job: r.job, step: asked.step };
    }
  }
}
