// The dashboard's Prometheus metrics (prom-client, a registry of its own), fed by the same updates as the pages:
// per job its step, loss, validation loss, tokens/s and model FLOP/s, per worker its collective bytes and seconds, per
// actor its restarts and heartbeat age, per host its warm spares, per nats-server up or down, and the
// recovery seconds the coordinator measured for each restored worker. deploy/grafana/troupe.json draws them.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { ClusterView, ViewUpdate } from "./cluster-view.ts";

export class DashboardMetrics {
  readonly registry = new Registry();
  private view: ClusterView | undefined;
  private readonly step = this.gauge("troupe_job_step", "last committed step of the job", ["job"]);
  private readonly loss = this.gauge("troupe_job_loss", "training loss of the last committed step (nats/token)", ["job"]);
  private readonly valLoss = this.gauge("troupe_job_validation_loss", "last validation loss (nats/token)", ["job"]);
  private readonly tps = this.gauge("troupe_job_tokens_per_second", "training throughput of the last committed step", ["job"]);
  private readonly flops = this.gauge(
    "troupe_job_model_flops_per_second",
    "model FLOP/s of the last committed step: tokens/s × (6N + 12·layers·seqLen·dModel)",
    ["job"],
  );
  private readonly restarts = new Counter({
    name: "troupe_actor_restarts_total",
    help: "restarts of a failed actor by its supervisor (supervisor.restart events)",
    labelNames: ["actor"],
    registers: [this.registry],
  });
  private readonly collectiveBytes = new Counter({
    name: "troupe_collective_bytes_total",
    help: "bytes a worker's collectives wrote to (sent) and read from (received) its peers' TCP connections",
    labelNames: ["job", "worker", "direction"],
    registers: [this.registry],
  });
  private readonly collectiveSeconds = new Counter({
    name: "troupe_collective_seconds_total",
    help: "seconds a worker spent in collective calls (at least one pending)",
    labelNames: ["job", "worker"],
    registers: [this.registry],
  });
  private readonly recovery = new Histogram({
    name: "troupe_recovery_seconds",
    help: "from a worker's failure to its job stepping again (worker.restored events)",
    labelNames: ["job"],
    buckets: [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120],
    registers: [this.registry],
  });

  constructor() {
    const self = this;
    new Gauge({
      name: "troupe_actor_heartbeat_age_seconds",
      help: "seconds since the actor's last heartbeat (live actors)",
      labelNames: ["actor", "state"],
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const a of self.view?.actors.values() ?? []) {
          if (a.state !== "dead" && a.lastHeartbeat !== null) this.set({ actor: a.id, state: a.state }, (now - a.lastHeartbeat) / 1000);
        }
      },
    });
    new Gauge({
      name: "troupe_actors",
      help: "actors by supervisor state",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const a of self.view?.actors.values() ?? []) counts.set(a.state, (counts.get(a.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.viewGauges();
  }

  /** Gauges read from the view's hosts and nats-servers at each scrape. */
  private viewGauges(): void {
    const self = this;
    const gauge = (name: string, help: string, label: string, read: (view: ClusterView) => [string, number][]) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [this.registry],
        collect() {
          this.reset();
          if (self.view) for (const [value, n] of read(self.view)) this.set({ [label]: value }, n);
        },
      });
    const spares = (v: ClusterView, pick: "ready" | "target") =>
      [...v.hosts.values()].flatMap((h): [string, number][] => (h.spares ? [[h.name, h.spares[pick]]] : []));
    gauge("troupe_host_warm_spares", "warm spare processes the host agent has started and waiting", "host", (v) => spares(v, "ready"));
    gauge("troupe_host_warm_spares_target", "command lines the host agent keeps a warm spare for", "host", (v) => spares(v, "target"));
    gauge("troupe_nats_server_up", "1 when the nats-server answered the last probe, else 0", "server", (v) =>
      v.servers.map((s) => [s.address, s.up ? 1 : 0]),
    );
  }

  /** The view whose actors the heartbeat and state gauges read at each scrape. */
  attach(view: ClusterView): void {
    this.view = view;
  }

  /** Takes one view update (the view's hook: every update once, the history first). */
  readonly take = (u: ViewUpdate): void => {
    if (u.t === "point") {
      this.step.set({ job: u.job }, u.p.step);
      this.loss.set({ job: u.job }, u.p.loss);
      this.tps.set({ job: u.job }, u.p.tps);
      if (u.p.flops !== null) this.flops.set({ job: u.job }, u.p.flops);
    } else if (u.t === "val") this.valLoss.set({ job: u.job }, u.loss);
    else if (u.t === "collective") {
      for (const [worker, t] of Object.entries(u.added)) {
        this.collectiveBytes.inc({ job: u.job, worker, direction: "sent" }, t.sentBytes);
        this.collectiveBytes.inc({ job: u.job, worker, direction: "received" }, t.receivedBytes);
        this.collectiveSeconds.inc({ job: u.job, worker }, t.seconds);
      }
    } else if (u.t === "event") {
      const d = u.e.data;
      if (u.e.type === "supervisor.restart" && typeof d.child === "string") this.restarts.inc({ actor: d.child });
      if (u.e.type === "worker.restored" && typeof d.seconds === "number") this.recovery.observe({ job: String(d.jobId ?? "") }, d.seconds);
    }
  };

  private gauge(name: string, help: string, labelNames: string[]): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}
