// One group of the CPU backend: collectives among some ranks of the TCP mesh.
// Small all-reduces (≤ 64 KB) exchange whole buffers in one round. Larger ones, and reduce-scatter, use direct
// exchange: chunk j of every member goes to member j, which combines the contributions in group-rank order;
// all-gather sends each owner's chunk to every member. Each member then sends and receives 2(n−1)/n of the
// buffer, as a ring does. Either way every element is combined as ((x0 ∘ x1) ∘ x2) …, so results equal the
// sequential reference bit for bit, however the frames arrive.
import { CollectiveError, CollectiveTimeoutError } from "./errors.ts";
import { checkOp, chunkBounds, combineInto } from "./reduce.ts";
import type { TcpMesh } from "./tcp-mesh.ts";
import type { Collectives, ReduceOp } from "./types.ts";

/** Marks a promise as handled (it is awaited later; an earlier failure elsewhere must not leave it unhandled). */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

export interface GroupOptions {
  /** an operation that has not finished after this long rejects with CollectiveTimeoutError (default 60 s) */
  opTimeoutMs: number;
}

/** Up to this size an all-reduce is one exchange round (latency-bound); above it, reduce-scatter + all-gather. */
const SMALL_ALL_REDUCE_BYTES = 64 * 1024;

export class TcpGroup implements Collectives {
  readonly rank: number;
  readonly size: number;
  private readonly key: string;
  private seq = 0;
  private readonly pending = new Set<(err: Error) => void>();
  private broken: Error | undefined;
  private readonly p2pCount = new Map<string, number>();

  constructor(
    private readonly mesh: TcpMesh,
    readonly ranks: readonly number[],
    private readonly options: GroupOptions,
  ) {
    this.rank = ranks.indexOf(mesh.rank);
    this.size = ranks.length;
    this.key = ranks.join(",");
  }

  /** A member died or the communicator was aborted: fail what is in flight and everything later. */
  fail(err: Error): void {
    this.broken ??= err;
    for (const reject of [...this.pending]) reject(err);
  }

  private run<T>(what: string, body: (tag: (phase: string) => string) => Promise<T>, sequenced = true): Promise<T> {
    if (this.broken) return Promise.reject(this.broken);
    const id = sequenced ? this.seq++ : -1;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending.delete(onFail);
        if (err) reject(err);
        else resolve(value as T);
      };
      const onFail = (err: Error) => finish(err);
      const timer = setTimeout(() => {
        const err = new CollectiveTimeoutError(
          `${what} on group [${this.key}] (rank ${this.mesh.rank}) did not finish within ${this.options.opTimeoutMs} ms`,
        );
        this.fail(err); // the members are out of step now; later operations would pair wrongly
      }, this.options.opTimeoutMs);
      timer.unref();
      this.pending.add(onFail);
      body((phase) => `${this.key}#${id}#${phase}`).then(
        (v) => finish(undefined, v),
        (e: unknown) => finish(e instanceof Error ? e : new CollectiveError(String(e))),
      );
    });
  }

  private checkMember(i: number, role: string): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new CollectiveError(`${role} ${String(i)} is outside the group (0..${this.size - 1})`);
    }
    return this.ranks[i]!;
  }

  private async expectLength(data: Float32Array, length: number, from: number, what: string): Promise<Float32Array> {
    if (data.length !== length) {
      throw new CollectiveError(
        `${what}: rank ${from} sent ${data.length} elements where ${length} were expected (buffers differ in length)`,
      );
    }
    return data;
  }

  /**
   * Phase 1 of all-reduce and all of reduce-scatter: returns this member's reduced chunk. With `inPlace` (all-reduce)
   * the chunk may be the very view of `data` it returns; the sum starts from a received buffer when it can, so
   * nothing is copied either way.
   */
  private async scatterReduce(
    data: Float32Array,
    op: ReduceOp,
    tag: (p: string) => string,
    what: string,
    inPlace = false,
  ): Promise<Float32Array> {
    const n = this.size;
    const sends: Promise<void>[] = [];
    for (let j = 0; j < n; j++) {
      if (j === this.rank) continue;
      const [a, b] = chunkBounds(data.length, n, j);
      sends.push(handled(this.mesh.send(this.ranks[j]!, tag("rs"), data.subarray(a, b))));
    }
    const [a, b] = chunkBounds(data.length, n, this.rank);
    const mine = data.subarray(a, b);
    const parts = await Promise.all(
      this.ranks.map((r, i) => (i === this.rank ? mine : this.mesh.recv(r, tag("rs")).then((d) => this.expectLength(d, b - a, r, what)))),
    );
    // group order ((x0 ∘ x1) ∘ x2) …: accumulate into x0 — a received buffer (ours to change), or our own chunk
    const acc = parts[0] !== mine || inPlace ? parts[0]! : Float32Array.from(mine);
    for (let i = 1; i < n; i++) {
      combineInto(acc, parts[i]!, op);
      if (parts[i] !== mine) this.mesh.recycle(parts[i]!);
    }
    await Promise.all(sends);
    return acc;
  }

  allReduce(data: Float32Array, op: ReduceOp = "sum"): Promise<void> {
    checkOp(op);
    if (this.size === 1) return this.broken ? Promise.reject(this.broken) : Promise.resolve();
    if (data.byteLength <= SMALL_ALL_REDUCE_BYTES) return this.run("allReduce", (tag) => this.exchangeReduce(data, op, tag));
    return this.run("allReduce", async (tag) => {
      const n = this.size;
      const acc = await this.scatterReduce(data, op, tag, "allReduce", true);
      const sends = this.ranks.map((r, i) => (i === this.rank ? Promise.resolve() : handled(this.mesh.send(r, tag("ag"), acc))));
      await Promise.all(
        this.ranks.map(async (r, i) => {
          const [a, b] = chunkBounds(data.length, n, i);
          if (i === this.rank) {
            if (acc.buffer !== data.buffer) data.set(acc, a); // else reduced in place
            return;
          }
          const chunk = await this.expectLength(await this.mesh.recv(r, tag("ag")), b - a, r, "allReduce");
          data.set(chunk, a);
          this.mesh.recycle(chunk);
        }),
      );
      await Promise.all(sends);
      if (acc.buffer !== data.buffer) this.mesh.recycle(acc); // a received buffer, sent on and copied out
    });
  }

  /** Small all-reduce in one round: every member sends its whole buffer to every other and reduces locally. */
  private async exchangeReduce(data: Float32Array, op: ReduceOp, tag: (p: string) => string): Promise<void> {
    const sends = this.ranks.map((r, i) => (i === this.rank ? Promise.resolve() : handled(this.mesh.send(r, tag("x"), data))));
    const parts = await Promise.all(
      this.ranks.map((r, i) =>
        i === this.rank ? data : this.mesh.recv(r, tag("x")).then((d) => this.expectLength(d, data.length, r, "allReduce")),
      ),
    );
    const acc = Float32Array.from(parts[0]!);
    for (let i = 1; i < parts.length; i++) combineInto(acc, parts[i]!, op);
    await Promise.all(sends); // our buffer must have left for every peer before it is overwritten
    data.set(acc);
    for (const p of parts) if (p !== data) this.mesh.recycle(p);
  }

  reduceScatter(data: Float32Array, op: ReduceOp = "sum"): Promise<Float32Array> {
    checkOp(op);
    if (this.size === 1) return this.broken ? Promise.reject(this.broken) : Promise.resolve(Float32Array.from(data));
    return this.run("reduceScatter", (tag) => this.scatterReduce(data, op, tag, "reduceScatter"));
  }

  allGather(chunk: Float32Array): Promise<Float32Array> {
    if (this.size === 1) return this.broken ? Promise.reject(this.broken) : Promise.resolve(Float32Array.from(chunk));
    return this.run("allGather", async (tag) => {
      const sends = this.ranks.map((r, i) => (i === this.rank ? Promise.resolve() : handled(this.mesh.send(r, tag("ag"), chunk))));
      const parts = await Promise.all(this.ranks.map((r, i) => (i === this.rank ? chunk : this.mesh.recv(r, tag("ag")))));
      await Promise.all(sends);
      const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      let offset = 0;
      for (const [i, p] of parts.entries()) {
        out.set(p, offset);
        offset += p.length;
        if (i !== this.rank) this.mesh.recycle(p);
      }
      return out;
    });
  }

  broadcast(data: Float32Array, root: number): Promise<void> {
    const rootRank = this.checkMember(root, "broadcast root");
    if (this.size === 1) return this.broken ? Promise.reject(this.broken) : Promise.resolve();
    return this.run("broadcast", async (tag) => {
      if (this.rank === root) {
        await Promise.all(this.ranks.map((r, i) => (i === root ? undefined : this.mesh.send(r, tag("bc"), data))));
      } else {
        const received = await this.expectLength(await this.mesh.recv(rootRank, tag("bc")), data.length, rootRank, "broadcast");
        data.set(received);
        this.mesh.recycle(received);
      }
    });
  }

  private p2pTag(direction: "s" | "r", peer: number, tag: string): string {
    const k = `${direction}|${peer}|${tag}`;
    const n = this.p2pCount.get(k) ?? 0;
    this.p2pCount.set(k, n + 1);
    return `${this.key}#p2p#${tag}#${n}`;
  }

  send(data: Float32Array, peer: number, tag = ""): Promise<void> {
    const to = this.checkMember(peer, "send peer");
    if (peer === this.rank) return Promise.reject(new CollectiveError("send to self is not supported"));
    return this.runP2p(`send to ${peer} (tag '${tag}')`, () => this.mesh.send(to, this.p2pTag("s", peer, tag), data));
  }

  recv(peer: number, tag = ""): Promise<Float32Array> {
    const from = this.checkMember(peer, "recv peer");
    if (peer === this.rank) return Promise.reject(new CollectiveError("recv from self is not supported"));
    return this.runP2p(`recv from ${peer} (tag '${tag}')`, () => this.mesh.recv(from, this.p2pTag("r", peer, tag)));
  }

  /** Point-to-point operations have no group-wide sequence number, but share the failure and timeout rules. */
  private runP2p<T>(what: string, start: () => Promise<T>): Promise<T> {
    return this.run(what, () => start(), false);
  }

  barrier(): Promise<void> {
    if (this.size === 1) return this.broken ? Promise.reject(this.broken) : Promise.resolve();
    return this.run("barrier", async (tag) => {
      const empty = new Float32Array(0);
      await Promise.all(this.ranks.map((r, i) => (i === this.rank ? undefined : this.mesh.send(r, tag("b"), empty))));
      await Promise.all(this.ranks.map((r, i) => (i === this.rank ? undefined : this.mesh.recv(r, tag("b")))));
    });
  }
}
