import { describe, expect, it } from "vitest";
import { Packr } from "msgpackr";
import { decode, encode } from "../../runtime/codec.ts";
import { CodecError, SchemaError, StaleEpochError } from "../../runtime/errors.ts";
import { actorCommandSchema, decodeAs, decodeFenced, heartbeatSchema } from "../../runtime/messages.ts";
import { Tensor } from "../../runtime/tensor.ts";

describe("codec", () => {
  it("round-trips plain values as interoperable msgpack maps", () => {
    const v = { a: 1, b: "x", c: [1.5, null, true], d: { e: -3 } };
    const bytes = encode(v);
    expect(decode(bytes)).toEqual(v);
    // a stock msgpack reader (no records) sees the same object
    expect(new Packr({ useRecords: false }).unpack(bytes)).toEqual(v);
  });

  it("round-trips tensors of every dtype with their shape", () => {
    const t = new Tensor("float32", [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6.5]));
    const i = new Tensor("int32", [4], Int32Array.from([-1, 0, 7, 2 ** 31 - 1]));
    const u = new Tensor("uint8", [3], Uint8Array.from([0, 128, 255]));
    const f64 = new Tensor("float64", [1, 2], Float64Array.from([Math.PI, -0.1]));
    const out = decode(encode({ t, i, u, f64 })) as Record<string, Tensor>;
    for (const [k, orig] of Object.entries({ t, i, u, f64 })) {
      expect(out[k]).toBeInstanceOf(Tensor);
      expect(out[k]!.dtype).toBe(orig.dtype);
      expect(out[k]!.shape).toEqual(orig.shape);
      expect(Array.from(out[k]!.data)).toEqual(Array.from(orig.data));
    }
  });

  it("decodes aligned tensors as views of the input and copies misaligned ones", () => {
    let views = 0;
    let copies = 0;
    // Keys of different lengths move the tensor bytes to every offset modulo 4.
    for (const pad of ["", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg"]) {
      const data = Float32Array.from({ length: 64 }, (_, k) => k * 0.25 - 3);
      const bytes = encode({ [pad]: 1, t: new Tensor("float32", [8, 8], data) });
      const out = (decode(bytes) as { t: Tensor }).t;
      expect(Array.from(out.data)).toEqual(Array.from(data));
      if (out.data.buffer === bytes.buffer) {
        expect(out.data.byteOffset % 4).toBe(0);
        views++;
      } else copies++;
    }
    expect(views).toBeGreaterThan(0);
    expect(copies).toBeGreaterThan(0);
  });

  it("rejects tensors whose shape does not match their bytes", () => {
    const bad = encode({ t: new Tensor("float32", [4], new Float32Array(4)) });
    // patch the shape [4] (fixint 0x94 0x04 in a fixarray of 1) to [5]
    const idx = bad.findIndex((b, k) => b === 0x91 && bad[k + 1] === 0x04);
    bad[idx + 1] = 0x05;
    expect(() => decode(bad)).toThrow(CodecError);
    expect(() => new Tensor("float32", [3], new Float32Array(4))).toThrow(/3 elements/);
  });

  it("turns garbage bytes into CodecError, never another exception", () => {
    const samples = [new Uint8Array(), Uint8Array.from([0xdd, 0xff, 0xff]), Uint8Array.from([0x92, 0x01])];
    for (const s of samples) expect(() => decode(s)).toThrow(CodecError);
    let rng = 12345;
    for (let n = 0; n < 500; n++) {
      const len = 1 + (n % 40);
      const b = new Uint8Array(len);
      for (let k = 0; k < len; k++) b[k] = (rng = (rng * 1103515245 + 12345) & 0x7fffffff) & 0xff;
      try {
        decode(b);
      } catch (err) {
        expect(err).toBeInstanceOf(CodecError);
      }
    }
  });
});

describe("message validation", () => {
  it("accepts a valid message", () => {
    const r = decodeAs(encode({ actorId: "a", pid: 1, step: 2, epoch: 0, time: 5 }), heartbeatSchema);
    expect(r).toEqual({ ok: true, value: { actorId: "a", pid: 1, step: 2, epoch: 0, time: 5 } });
  });

  it("reports garbage and wrong schemas as values with the offending field", () => {
    const g = decodeAs(Uint8Array.from([0xc1, 0x00]), heartbeatSchema);
    expect(g.ok).toBe(false);
    if (!g.ok) expect(g.error).toBeInstanceOf(CodecError);
    const w = decodeAs(encode({ actorId: "a", pid: "x", step: 2, epoch: 0, time: 5 }), heartbeatSchema);
    expect(w.ok).toBe(false);
    if (!w.ok) {
      expect(w.error).toBeInstanceOf(SchemaError);
      expect(w.error.message).toMatch(/'pid'/);
    }
    const u = decodeAs(encode({ type: "launch-missiles", epoch: 1 }), actorCommandSchema);
    expect(u.ok).toBe(false);
  });

  it("fences messages from an older epoch", () => {
    const old = decodeFenced(encode({ type: "ping", epoch: 2 }), actorCommandSchema, 3);
    expect(old.ok).toBe(false);
    if (!old.ok) expect(old.error).toBeInstanceOf(StaleEpochError);
    expect(decodeFenced(encode({ type: "ping", epoch: 3 }), actorCommandSchema, 3).ok).toBe(true);
    expect(decodeFenced(encode({ type: "ping", epoch: 4 }), actorCommandSchema, 3).ok).toBe(true);
  });
});
