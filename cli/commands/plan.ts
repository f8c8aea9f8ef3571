// `troupe plan`: prints where each rank of a (dp, pp, tp) job would run and the bytes per step each link class
// carries, for the topology-aware placement next to a naive one.
import { UsageError } from "../errors.ts";
import { summaryOf } from "../commands-table.ts";
import type { Command } from "commander";
import { loadPlanConfig } from "../../ml/parallel/plan-config.ts";
import { planJob, type Plan, type PlacementReport } from "../../ml/parallel/plan.ts";
import { ranksByHost } from "../../ml/parallel/placement.ts";
import { parseAxisOrder, type RankLayout } from "../../ml/parallel/ranks.ts";
import type { TransferOrder } from "../../ml/parallel/schedules.ts";
import type { ScheduleKind } from "../../ml/parallel/schedule-types.ts";

interface PlanOptions {
  hosts: string;
  slotsPerHost: string;
  dp?: string;
  pp?: string;
  tp?: string;
  order?: string;
  bytes: string;
  showHosts: string;
  json?: boolean;
  schedule?: string;
  virtualStages: string;
  transfers: string;
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${text}'`);
  return n;
}

function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

function rangeText(values: number[]): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

function hostLines(layout: RankLayout, report: PlacementReport, limit: number): string[] {
  const hosts = ranksByHost(report.placement)
    .map((ranks, h) => ({ ranks, h }))
    .filter((x) => x.ranks.length);
  const lines = hosts.slice(0, limit).map(({ ranks, h }) => {
    const c = ranks.map((r) => layout.coords[r]!);
    const pick = (a: "dp" | "pp" | "tp") => rangeText(c.map((x) => x[a]));
    return `  host ${h}: ranks ${rangeText(ranks)}  (d ${pick("dp")}, p ${pick("pp")}, t ${pick("tp")})`;
  });
  if (hosts.length > limit) lines.push(`  … ${hosts.length - limit} more hosts (--show-hosts N to see more)`);
  return lines;
}

export function formatPlan(plan: Plan, showHosts: number): string {
  const { layout, split, uniformSplit } = plan;
  const { dp, pp, tp } = layout.sizes;
  const { hosts, slotsPerHost } = plan.topology.placement.cluster;
  const out: string[] = [];
  out.push(`layout: dp ${dp} × pp ${pp} × tp ${tp} = ${layout.worldSize} ranks, order ${layout.order.join("-")} (fastest first)`);
  out.push(`cluster: ${hosts} hosts × ${slotsPerHost} slots; ${plan.microbatches} micro-batches per replica per step`);
  out.push(
    `layers per stage: ${split.layersPerStage.join(" ")} (imbalance ${split.imbalance.toFixed(3)}; ` +
      `uniform ${uniformSplit.layersPerStage.join(" ")} would be ${uniformSplit.imbalance.toFixed(3)})`,
  );
  for (const report of [plan.topology, plan.naive]) {
    out.push(`placement (${report.placement.kind}): TP groups inside one host ${report.tpGroupsInOneHost}/${layout.tpGroups.length}`);
    out.push(...hostLines(layout, report, showHosts));
  }
  out.push("bytes per step by link class:");
  const row = (label: string, cells: string[]) => `  ${label.padEnd(15)}${cells.map((c) => c.padStart(14)).join("")}`;
  out.push(row("", ["aware same", "aware other", "naive same", "naive other"]));
  const kinds = Object.keys(plan.topology.traffic.byKind) as (keyof typeof plan.topology.traffic.byKind)[];
  for (const k of kinds) {
    const a = plan.topology.traffic.byKind[k];
    const n = plan.naive.traffic.byKind[k];
    out.push(row(k, [a.sameHost, a.otherHost, n.sameHost, n.otherHost].map(formatBytes)));
  }
  const a = plan.topology.traffic.total;
  const n = plan.naive.traffic.total;
  out.push(row("total", [a.sameHost, a.otherHost, n.sameHost, n.otherHost].map(formatBytes)));
  const ratio = a.otherHost === 0 ? "all traffic stays inside hosts" : `${(n.otherHost / a.otherHost).toFixed(2)}× less than naive`;
  out.push(`other-host bytes, topology-aware: ${formatBytes(a.otherHost)} (${ratio})`);
  const s = plan.schedule;
  if (s) {
    out.push(
      `schedule ${s.kind}${s.virtualStages > 1 ? ` (v ${s.virtualStages})` : ""}, ${s.transfers} transfers: ` +
        `bubble ${s.bubble.toFixed(4)} simulated on this split with backward = 2 × forward ` +
        `(formula (p−1)/(v·m+p−1) = ${s.formula.toFixed(4)}); stage 0 holds at most ${s.peakInFlightStage0} micro-batches`,
    );
  }
  return out.join("\n");
}

export function register(program: Command): void {
  program
    .command("plan")
    .description(summaryOf("plan"))
    .argument("<config>", "training YAML (reads model, data.vocabSize, batch and the optional parallel section)")
    .requiredOption("--hosts <n>", "number of hosts")
    .requiredOption("--slots-per-host <n>", "worker slots (GPUs or CPU slots) per host")
    .option("--dp <n>", "data-parallel size (overrides parallel.dp)")
    .option("--pp <n>", "pipeline-parallel size (overrides parallel.pp)")
    .option("--tp <n>", "tensor-parallel size (overrides parallel.tp)")
    .option("--order <axes>", "rank order, fastest axis first, e.g. tp-dp-pp (overrides parallel.order; default tp-dp-pp)")
    .option("--bytes <n>", "bytes per activation/gradient element (4 = fp32, 2 = bf16)", "4")
    .option("--show-hosts <n>", "hosts listed per placement", "8")
    .option("--schedule <kind>", "also simulate a pipeline schedule on this split: gpipe, 1f1b or interleaved")
    .option("--virtual-stages <v>", "model chunks per stage for --schedule interleaved", "1")
    .option("--transfers <order>", "transfer order for --schedule: rendezvous or eager", "rendezvous")
    .option("--json", "print the traffic figures as JSON instead of a table")
    .addHelpText("after", "\nExample (MT-NLG 530B layout):\n  troupe plan mtnlg.yaml --hosts 280 --slots-per-host 8 --dp 8 --pp 35 --tp 8")
    .action((file: string, o: PlanOptions) => {
      const cfg = loadPlanConfig(file);
      const sizes = {
        dp: o.dp !== undefined ? positiveInt("dp", o.dp) : cfg.parallel.dp,
        pp: o.pp !== undefined ? positiveInt("pp", o.pp) : cfg.parallel.pp,
        tp: o.tp !== undefined ? positiveInt("tp", o.tp) : cfg.parallel.tp,
      };
      const orderText = o.order ?? cfg.parallel.order;
      const plan = planJob({
        model: cfg.model,
        batch: cfg.batch,
        sizes,
        order: orderText ? parseAxisOrder(orderText) : undefined,
        cluster: { hosts: positiveInt("hosts", o.hosts), slotsPerHost: positiveInt("slots-per-host", o.slotsPerHost) },
        bytesPerElement: positiveInt("bytes", o.bytes),
        schedule: o.schedule
          ? {
              kind: o.schedule as ScheduleKind,
              virtualStages: positiveInt("virtual-stages", o.virtualStages),
              transfers: o.transfers as TransferOrder,
            }
          : undefined,
      });
      if (o.json) {
        console.log(
          JSON.stringify({
            worldSize: plan.layout.worldSize,
            microbatches: plan.microbatches,
            layersPerStage: plan.split.layersPerStage,
            topology: { traffic: plan.topology.traffic, tpGroupsInOneHost: plan.topology.tpGroupsInOneHost },
            naive: { traffic: plan.naive.traffic, tpGroupsInOneHost: plan.naive.tpGroupsInOneHost },
            schedule: plan.schedule,
          }),
        );
      } else {
        console.log(formatPlan(plan, positiveInt("show-hosts", o.showHosts)));
      }
    });
}
