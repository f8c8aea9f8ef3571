// Texts of evaluation tasks for decontamination. Task files are JSON Lines in the evaluation format
// ({"split", "context", "target"} or {"split", "context", "choices", "label"}) or with a "text"
// field. Each example gives the text a model could have memorised: the context with its answer.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { SourceError } from "./errors.ts";

export interface TaskSpec {
  /** A .jsonl file, or a folder whose .jsonl files are all read. */
  path: string;
  /** Splits to take (Megatron decontaminates against test/dev data). Lines without a split are always taken. */
  splits?: string[];
}

function exampleText(obj: Record<string, unknown>): string | undefined {
  if (typeof obj.text === "string") return obj.text;
  if (typeof obj.context !== "string") return undefined;
  if (typeof obj.target === "string") return `${obj.context} ${obj.target}`;
  if (Array.isArray(obj.choices) && typeof obj.label === "number" && typeof obj.choices[obj.label] === "string") {
    return `${obj.context} ${obj.choices[obj.label]}`;
  }
  return obj.context;
}

export function loadTaskTexts(spec: TaskSpec, baseDir: string): { file: string; texts: string[] }[] {
  const target = path.resolve(baseDir, spec.path);
  const stat = statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new SourceError(`task path ${target} does not exist`);
  const files = stat.isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith(".jsonl"))
        .sort()
        .map((f) => path.join(target, f))
    : [target];
  const splits = spec.splits ?? ["test", "validation"];
  return files.map((file) => {
    const texts: string[] = [];
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, i) => {
        if (line.trim() === "") return;
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          throw new SourceError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`, { cause: err });
        }
        if (typeof obj.split === "string" && !splits.includes(obj.split)) return;
        const text = exampleText(obj);
        if (text === undefined) throw new SourceError(`${file}:${i + 1}: needs "text", or "context" with "target" or "choices"+"label"`);
        texts.push(text);
      });
    return { file, texts };
  });
}
