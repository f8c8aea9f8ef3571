// Loads the compiled addon (build/Release/troupe_native.node) and types its raw surface.
// Everything here is unchecked at the type level; native/mod.ts is the public face.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** A kernel argument: arrays are passed by reference (no copy), numbers by value. */
export type KernelArg = Float32Array | Int32Array | number | null;

export interface NativeAddon {
  version: string;
  mapFile(path: string): Uint8Array;
  alloc(n: number): Float32Array;
  setBlasThreads(n: number): void;
  getBlasThreads(): number;
  blasConfig(): string;
  /** Names and argument signatures of the registered kernels ("name:kind ..."). */
  kernelSignatures(): Record<string, string>;
  /** Checks a call (kinds and size rules) without running it; throws as a run would. */
  checkCall(name: string, ...args: KernelArg[]): void;
  /** Runs a kernel on the JS thread; returns its scalar result (0 when it has none). */
  runSync(name: string, ...args: KernelArg[]): number;
  /** Runs a kernel on a libuv worker thread; the arrays must not be touched until it settles. */
  run(name: string, ...args: KernelArg[]): Promise<number>;
  /** Runs the calls ([name, ...args] each) in order on one worker thread; resolves to their results. */
  runProgram(calls: (string | KernelArg)[][]): Promise<Float64Array>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const addonPath = path.join(root, "build", "Release", "troupe_native.node");

function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  try {
    return require(addonPath) as NativeAddon;
  } catch (cause) {
    throw new Error(`cannot load the native addon ${addonPath} (build it with \`npm run build:addon\`)`, { cause });
  }
}

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use (not at import), so that a program that runs only other backends (the device
 * check on a GPU machine without OpenBLAS) can import the modules that mention it.
 */
export const addon: NativeAddon = new Proxy({} as NativeAddon, {
  get: (_target, key) => Reflect.get((loaded ??= load()), key),
});
