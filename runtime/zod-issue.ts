// The one way troupe words a zod validation failure: where (the path, dotted) and what (zod's message).
// Each caller puts it in its own sentence ("invalid job spec F: `parallel.dp`: …"), so the message names the file
// or message it is about.
import type { z } from "zod";

export interface IssueText {
  /** The dotted path to the bad field; `root` when the whole value is wrong. */
  path: string;
  message: string;
}

/** An issue's path, dotted; `root` for the whole value. */
export function pathOf(issue: { path: readonly PropertyKey[] }, root = "(top level)"): string {
  return issue.path.length ? issue.path.map(String).join(".") : root;
}

/** The first issue of `error` (the one a person fixes first). */
export function firstIssue(error: z.ZodError, root = "(top level)"): IssueText {
  const issue = error.issues[0];
  if (!issue) return { path: root, message: "does not match its schema" };
  return { path: pathOf(issue, root), message: issue.message };
}

/** "`path`: message" (or with `quote` "" / "'" around the path, and `prefix.` before it). */
export function issueText(error: z.ZodError, o: { quote?: string; prefix?: string; root?: string } = {}): string {
  const { path, message } = firstIssue(error, o.root);
  const q = o.quote ?? "`";
  return `${q}${o.prefix ? `${o.prefix}.` : ""}${path}${q}: ${message}`;
}
