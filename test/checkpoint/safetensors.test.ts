import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors, readSafetensors, writeSafetensors } from "../../ml/checkpoint/safetensors.ts";
import { SafetensorsError } from "../../ml/checkpoint/errors.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "troupe-st-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The spec's layout built by hand: u64 LE length, space-padded JSON, little-endian f32 data. */
function handBuilt(): Buffer {
  const json =
    '{"__metadata__":{"step":"7"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}';
  const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
  const bytes = Buffer.alloc(8 + padded.length + 12);
  bytes.writeBigUInt64LE(BigInt(padded.length), 0);
  bytes.write(padded, 8, "utf8");
  const data = 8 + padded.length;
  bytes.writeFloatLE(1.5, data);
  bytes.writeFloatLE(-2, data + 4);
  bytes.writeFloatLE(0.25, data + 8);
  return bytes;
}

describe("safetensors", () => {
  it("writes exactly the bytes the spec describes", () => {
    const file = path.join(dir, "w.safetensors");
    writeSafetensors(
      file,
      [
        { name: "a", shape: [2], data: new Float32Array([1.5, -2]) },
        { name: "b", shape: [1, 1], data: new Float32Array([0.25]) },
      ],
      { step: "7" },
    );
    const written = readFileSync(file);
    expect(written.equals(handBuilt())).toBe(true);
    expect(Number(written.readBigUInt64LE(0)) % 8).toBe(0);
  });

  it("reads a hand-built file", () => {
    const file = path.join(dir, "h.safetensors");
    writeFileSync(file, handBuilt());
    const st = readSafetensors(file);
    expect(st.metadata).toEqual({ step: "7" });
    expect(st.order).toEqual(["a", "b"]);
    expect([...st.tensors.get("a")!.data]).toEqual([1.5, -2]);
    expect(st.tensors.get("b")!.shape).toEqual([1, 1]);
    expect([...st.tensors.get("b")!.data]).toEqual([0.25]);
  });

  it("reads data that is not 4-byte aligned (header not padded, as other writers may do)", () => {
    const json = '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'; // 53 bytes
    const bytes = Buffer.alloc(8 + json.length + 4);
    bytes.writeBigUInt64LE(BigInt(json.length));
    bytes.write(json, 8);
    bytes.writeFloatLE(3.5, 8 + json.length);
    expect([...decodeSafetensors("x", bytes).tensors.get("x")!.data]).toEqual([3.5]);
  });

  it("refuses truncated and malformed files, naming the file", () => {
    const good = handBuilt();
    const cases: [Buffer, RegExp][] = [
      [good.subarray(0, 5), /t\.st: truncated/],
      [good.subarray(0, good.length - 2), /t\.st: truncated: tensors need 12 data bytes, the file has 10/],
      [Buffer.concat([good, Buffer.alloc(4)]), /t\.st: trailing bytes/],
      [
        (() => {
          const b = Buffer.from(good);
          b.writeBigUInt64LE(1n << 40n);
          return b;
        })(),
        /t\.st: header length .* implausible/,
      ],
      [
        (() => {
          const b = Buffer.from(good);
          b.write("#", 8);
          return b;
        })(),
        /t\.st: header is not valid JSON/,
      ],
      [Buffer.from(good.toString("latin1").replace('"F32"', '"F16"'), "latin1"), /t\.st: tensor a: dtype F16 is not supported/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => decodeSafetensors("t.st", bytes)).toThrow(SafetensorsError);
      expect(() => decodeSafetensors("t.st", bytes)).toThrow(message);
    }
  });

  it("refuses a shape that does not match the data", () => {
    expect(() => writeSafetensors(path.join(dir, "bad"), [{ name: "a", shape: [3], data: new Float32Array(2) }])).toThrow(
      /shape \[3\] does not match 2 elements/,
    );
  });
});
