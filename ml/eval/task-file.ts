// Task files: JSON Lines, one example per line, each with its split. The task's kind comes from the
// fields: `target` → completion, `choices` + `label` → multiple choice; one file holds one kind.
//   {"split":"test","context":"He opened the","target":"door"}
//   {"split":"train","context":"The sky is","choices":["blue.","loud."],"label":0}
import { firstIssue } from "../../runtime/zod-issue.ts";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { TaskFileError } from "./errors.ts";
import type { Split, Task, TaskExample } from "./types.ts";

const lineSchema = z.object({
  split: z.enum(["train", "validation", "test"]),
  context: z.string(),
  target: z.string().min(1).optional(),
  choices: z.array(z.string().min(1)).min(2).optional(),
  label: z.number().int().min(0).optional(),
});

function describeIssue(error: z.ZodError): string {
  const { path, message } = firstIssue(error, "");
  return `${path ? `field "${path}"` : "line"}: ${message}`;
}

function toExample(fields: z.infer<typeof lineSchema>, file: string, line: number): TaskExample {
  const hasChoices = fields.choices !== undefined || fields.label !== undefined;
  if (fields.target !== undefined && hasChoices) {
    throw new TaskFileError('has both "target" (completion) and "choices"/"label" (multiple choice)', file, line);
  }
  if (fields.target !== undefined) return { kind: "completion", context: fields.context, target: fields.target };
  if (fields.choices === undefined || fields.label === undefined) {
    throw new TaskFileError('needs "target" (completion) or both "choices" and "label" (multiple choice)', file, line);
  }
  if (fields.label >= fields.choices.length) {
    throw new TaskFileError(`"label" ${fields.label} is out of range for ${fields.choices.length} choices`, file, line);
  }
  return { kind: "multiple_choice", context: fields.context, choices: fields.choices, label: fields.label };
}

/** Parse task JSONL text; `file` names the source in errors and `name` defaults to its base name. */
export function parseTask(text: string, file: string, name = path.basename(file).replace(/\.jsonl$/i, "")): Task {
  const task: Task = { name, kind: "completion", train: [], validation: [], test: [] };
  let kindLine = 0;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === "") continue;
    const lineNo = i + 1;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (cause) {
      throw new TaskFileError(`not valid JSON (${(cause as Error).message})`, file, lineNo, { cause });
    }
    const parsed = lineSchema.safeParse(json);
    if (!parsed.success) throw new TaskFileError(describeIssue(parsed.error), file, lineNo, { cause: parsed.error });
    const example = toExample(parsed.data, file, lineNo);
    if (kindLine === 0) {
      task.kind = example.kind;
      kindLine = lineNo;
    } else if (example.kind !== task.kind) {
      throw new TaskFileError(`is ${example.kind} but line ${kindLine} is ${task.kind}; one task file holds one kind`, file, lineNo);
    }
    task[parsed.data.split as Split].push(example);
  }
  if (kindLine === 0) throw new TaskFileError("has no examples", file);
  if (task.test.length === 0 && task.validation.length === 0) {
    throw new TaskFileError('has no "test" or "validation" examples to score', file);
  }
  return task;
}

/** Read and parse one task file. */
export function loadTask(file: string): Task {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new TaskFileError(`cannot read task file (${(cause as NodeJS.ErrnoException).code ?? cause})`, file, undefined, { cause });
  }
  return parseTask(text, file);
}

/** Serialise a task back to JSONL (train, validation, test order). */
export function formatTask(task: Task): string {
  const lines: string[] = [];
  for (const split of ["train", "validation", "test"] as const) {
    for (const ex of task[split]) {
      lines.push(
        JSON.stringify(
          ex.kind === "completion"
            ? { split, context: ex.context, target: ex.target }
            : { split, context: ex.context, choices: ex.choices, label: ex.label },
        ),
      );
    }
  }
  return lines.join("\n") + "\n";
}
