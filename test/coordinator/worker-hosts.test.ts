// Where the coordinator puts each rank over the live host agents (actors/coordinator/worker-hosts.ts).
import { describe, expect, it } from "vitest";
import { placeRanks } from "../../actors/coordinator/worker-hosts.ts";
import { rankLayout } from "../../ml/parallel/ranks.ts";
import type { HostRecord } from "../../runtime/types.ts";

const now = 1_000_000;
const host = (name: string, slots: number, lastSeen = now): HostRecord => ({
  name,
  slots,
  tier: "default",
  running: [],
  lastSeen,
  pid: 1,
  startedAt: 0,
});

describe("placeRanks", () => {
  const layout = rankLayout({ dp: 2, pp: 2, tp: 2 });

  it("keeps tensor-parallel pairs on one host and spreads pipeline stages over the hosts with slots", () => {
    const hosts = placeRanks(layout, [host("host3", 4), host("host1", 0), host("host2", 4)], now)!;
    expect(hosts).toHaveLength(8);
    layout.coords.forEach((c, r) => {
      const peer = layout.coords.findIndex((o) => o.dp === c.dp && o.pp === c.pp && o.tp !== c.tp);
      expect(hosts[peer]).toBe(hosts[r]);
      expect(hosts[r]).toBe(c.pp === 0 ? "host2" : "host3");
    });
  });

  it("leaves the choice to the supervisor when the ranks do not fit or no host has slots", () => {
    expect(placeRanks(layout, [host("a", 2)], now)).toBeUndefined();
    expect(placeRanks(layout, [host("a", 0)], now)).toBeUndefined();
    expect(placeRanks(layout, [host("a", 4), host("b", 4, now - 60_000)], now)).toBeUndefined();
    expect(placeRanks(layout, [host("a", 8)], now)).toEqual(Array(8).fill("a"));
  });
});
