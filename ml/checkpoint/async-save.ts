// Asynchronous checkpoints for one rank. `save` / `saveShard` return once the tensors are copied into memory
// (file-image.ts: the only part the step loop waits for); a worker_thread writes, fsyncs and hashes the files
// into the staging folder (image-writer-thread.ts), and only a whole checkpoint is renamed to step-N and made
// `latest`. The images are kept for the next checkpoint's copy (one checkpoint's size of memory, held).
// At most one checkpoint is in flight per writer: a save asked while the previous write runs first waits for
// it (the step loop then waits too: checkpoints more frequent than the disk allow are paced, never dropped).
// A failed background write is reported by its `written` promise and again by the next save or drain.
import { mkdirSync } from "node:fs";
import path from "node:path";
import type { ShardLayout } from "../parallel/shard-spec.ts";
import { safetensorsImage } from "./file-image.ts";
import { ImageWriterThread } from "./image-writer-thread.ts";
import type { FileRecord } from "./manifest.ts";
import {
  planCheckpointShard,
  planZeroShard,
  type GlobalShapes,
  type ShardContent,
  type ShardDescription,
  type ZeroShardContent,
} from "./shard-files.ts";
import { buildManifest, SINGLE_RANK_LAYOUT } from "./build-manifest.ts";
import {
  commitCheckpoint,
  hasCheckpoint,
  prepareStagingDir,
  singleRankFiles,
  singleRankShard,
  stepDirName,
  type CheckpointContent,
} from "./store.ts";
import { CheckpointError } from "./errors.ts";

/** A checkpoint (or shard) whose tensors are copied; `written` resolves once its files are on disk. */
export interface PendingWrite<T> {
  step: number;
  written: Promise<T>;
}

/** A whole checkpoint started by one rank or the coordinator: `dir` is the step folder `written` will name. */
export interface PendingCheckpoint extends PendingWrite<string> {
  dir: string;
}

interface Image {
  file: string;
  image: Buffer;
}

export class CheckpointWriter {
  private inFlight: PendingWrite<unknown> | undefined;
  private failure: Error | undefined;
  private readonly thread = new ImageWriterThread();
  /** Images of the last write by file name, overwritten by the next copy. */
  private readonly spare = new Map<string, ArrayBuffer>();

  /** True while a background write runs. */
  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  /**
   * Single-rank checkpoint (layout 1×1×1) of `content.step` under `root`: returns after the memory copy;
   * `written` resolves with the step folder once it is whole and `latest` names it.
   */
  async save(root: string, content: CheckpointContent, options: { keep: number }): Promise<PendingWrite<string>> {
    await this.drain();
    if (hasCheckpoint(root, content.step))
      return this.track(content.step, Promise.resolve(commitCheckpoint(root, undefined, content.step, options)));
    const images = this.copyImages(singleRankFiles(content));
    const info = {
      ...content,
      params: content.params.map(shapeOf),
      optimizerState: content.optimizerState.map(shapeOf),
      data: { ...content.data },
    };
    const staging = prepareStagingDir(root, content.step);
    return this.track(
      content.step,
      (async () => {
        const files = await this.writeImages(staging, images);
        return commitCheckpoint(root, buildManifest(info, SINGLE_RANK_LAYOUT, [singleRankShard(info, files)]), content.step, options);
      })(),
    );
  }

  /**
   * One (stage, tp rank) shard of a sharded checkpoint into `staging` (prepared by the coordinator): returns after
   * the memory copy; `written` resolves with the shard's description (sizes, sha256) once its files are on disk.
   */
  async saveShard(
    staging: string,
    content: ShardContent,
    layout: ShardLayout,
    globalShapes: GlobalShapes,
  ): Promise<PendingWrite<ShardDescription>> {
    await this.drain();
    const plan = planCheckpointShard(content, layout, globalShapes);
    const images = this.copyImages(plan.files);
    const coord = { ...content.coord };
    return this.track(
      content.step,
      (async () => {
        mkdirSync(staging, { recursive: true }); // ranks may start writing before they see the folder the coordinator prepared
        return { coord, files: await this.writeImages(staging, images), tensors: plan.tensors };
      })(),
    );
  }

  /**
   * ZeRO-1 shards (dp > 2) of one (stage, tp rank) into `staging`: one file per shard, as saveShard returns once the
   * tensors are copied.
   */
  async saveZeroShards(
    staging: string,
    contents: readonly ZeroShardContent[],
    layout: ShardLayout,
    globalShapes: GlobalShapes,
  ): Promise<PendingWrite<ShardDescription>> {
    if (contents.length === 0) throw new CheckpointError("no ZeRO-1 shard to write");
    await this.drain();
    const plans = contents.map((c) => planZeroShard(c, layout, globalShapes));
    const images = this.copyImages(plans);
    const coord = { ...contents[0]!.coord };
    const zeroShards = contents.map((c) => c.index);
    return this.track(
      contents[0]!.step,
      (async () => {
        mkdirSync(staging, { recursive: true });
        return { coord, files: await this.writeImages(staging, images), tensors: plans.flatMap((p) => p.records), zeroShards };
      })(),
    );
  }

  /** Waits for the write in flight; throws if it (or an earlier unreported one) failed. */
  async drain(): Promise<void> {
    if (this.inFlight) await this.inFlight.written.catch(() => undefined);
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
  }

  /** Drains, then ends the writer thread (a later save starts a new one). */
  async close(): Promise<void> {
    try {
      await this.drain();
    } finally {
      await this.thread.close();
    }
  }

  private copyImages(files: { file: string; tensors: CheckpointContent["params"]; metadata: Record<string, string> }[]): Image[] {
    return files.map(({ file, tensors, metadata }) => {
      const image = safetensorsImage(tensors, metadata, this.spare.get(file));
      this.spare.delete(file);
      return { file, image };
    });
  }

  private async writeImages(dir: string, images: Image[]): Promise<FileRecord[]> {
    const done = await this.thread.write(
      images.map(({ file, image }) => ({ file: path.join(dir, file), image: image.buffer as ArrayBuffer })),
    );
    for (const [i, { file }] of images.entries()) this.spare.set(file, done.images[i]!);
    return images.map(({ file }, i) => ({ file, ...done.records[i]! }));
  }

  private track<T>(step: number, write: Promise<T>): PendingWrite<T> {
    const pending: PendingWrite<T> = {
      step,
      written: write.then(
        (result) => {
          if (this.inFlight === pending) this.inFlight = undefined;
          return result;
        },
        (cause: unknown) => {
          if (this.inFlight === pending) this.inFlight = undefined;
          const err = new CheckpointError(
            `checkpoint of step ${step} (${stepDirName(step)}) could not be written: ${(cause as Error).message}`,
            { cause },
          );
          this.failure = err;
          throw err;
        },
      ),
    };
    pending.written.catch(() => undefined); // reported by drain or the next save when no one awaits it
    this.inFlight = pending;
    return pending;
  }
}

function shapeOf(t: { name: string; shape: readonly number[] }): { name: string; shape: number[] } {
  return { name: t.name, shape: [...t.shape] };
}
