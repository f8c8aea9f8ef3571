// Parents of supervisors. A supervisor that exceeds its restart intensity escalates to its parent;
// the parent answers "restart" (the supervisor restarts all its children afresh) or "stop".
import { RestartIntensity } from "./backoff.ts";
import type { Escalation, EscalationDecision, EscalationHandler, Intensity } from "./types.ts";

/** A parent that restarts its child supervisors within its own intensity, then stops them. */
export class RestartingParent implements EscalationHandler {
  private readonly intensity: RestartIntensity;
  readonly received: Escalation[] = [];

  constructor(
    readonly id: string,
    limit: Intensity,
    private readonly now: () => number = Date.now,
  ) {
    this.intensity = new RestartIntensity(limit);
  }

  async handleEscalation(escalation: Escalation): Promise<EscalationDecision> {
    this.received.push(escalation);
    return this.intensity.allow(this.now()) ? "restart" : "stop";
  }
}
