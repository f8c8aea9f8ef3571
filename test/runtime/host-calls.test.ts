// Where a supervisor starts a child (runtime/host-calls.ts pickHost): its own host while that host is live, else the
// least loaded live host; a placed worker whose host was lost goes to a host with worker slots.
import { describe, expect, it } from "vitest";
import { forgetRevived, HOST_SILENT_MS, pickHost } from "../../runtime/host-calls.ts";
import type { Registry } from "../../runtime/registry.ts";
import type { HostRecord } from "../../runtime/types.ts";

const host = (name: string, slots: number, running: number, ago = 0): HostRecord => ({
  name,
  slots,
  tier: "default",
  running: Array.from({ length: running }, (_, i) => `${name}-a${i}`),
  lastSeen: Date.now() - ago,
  pid: 1,
  startedAt: 0,
});
const registry = (hosts: HostRecord[]) => ({ listHosts: async () => hosts }) as unknown as Registry;
const spec = (h?: string) => ({ id: "j-w2", argv: ["node"], ...(h ? { host: h } : {}) });

describe("pickHost", () => {
  const hosts = [host("head", 0, 0), host("host2", 2, 2), host("host3", 2, 2), host("host4", 2, 0)];

  it("keeps a child on its own host while that host is live, even when others are less loaded", async () => {
    expect(await pickHost(registry(hosts), spec("host3"))).toBe("host3");
  });

  it("asks a host with no record at all (its agent may not have written one yet)", async () => {
    expect(await pickHost(registry(hosts), spec("host9"))).toBe("host9");
  });

  it("moves a child off its host once that host is silent, to the least loaded host with slots", async () => {
    const lost = hosts.map((h) => (h.name === "host3" ? host("host3", 2, 2, HOST_SILENT_MS + 1) : h));
    expect(await pickHost(registry(lost), spec("host3"))).toBe("host4");
  });

  it("moves a child off a host that just left a spawn request unanswered, though its record still looks fresh", async () => {
    expect(await pickHost(registry(hosts), spec("host3"), new Set(["host3"]))).toBe("host4");
    // a placed worker never lands on a host of 0 slots, though it runs nothing
    expect(await pickHost(registry(hosts), spec("host3"), new Set(["host3", "host4"]))).toBe("host2");
  });

  it("picks by load when the child names no host, and fails with no live host", async () => {
    expect(await pickHost(registry(hosts), spec())).toBe("head");
    await expect(pickHost(registry([host("a", 2, 0, HOST_SILENT_MS + 1)]), spec())).rejects.toThrow(/no host agent/);
  });

  it("forgets a host passed over once a new agent has started there, or after HOST_SILENT_MS; not an agent only cut off", async () => {
    const now = Date.now();
    const unreachable = new Map([
      ["host2", now - 1000],
      ["host3", now - 1000],
      ["host4", now - HOST_SILENT_MS - 1],
    ]);
    const revived = { ...host("host3", 2, 0), startedAt: now };
    await forgetRevived(registry([host("host2", 2, 2), revived, host("host4", 2, 0)]), unreachable);
    expect([...unreachable.keys()]).toEqual(["host2"]);
  });
});
