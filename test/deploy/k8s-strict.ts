// Unknown fields, which the JSON schemas of kubernetes-models let through (they allow additional properties) and
// `kubectl apply` refuses (strict field validation): each object is type-checked by the TypeScript compiler as an
// object literal of its kind's interface from the same package, whose excess-property check names any field the
// kind does not have, at any depth. A kind the package has no module for is a problem too (its import fails).
import path from "node:path";
import ts from "typescript";
import type { K8sObject } from "./k8s-render.ts";

/** One problem per field of `objects` that its kind does not have (or of a type the kind's interface refuses). */
export function unknownFieldProblems(objects: K8sObject[]): string[] {
  const file = path.join(import.meta.dirname, "__manifests__.ts");
  const lines: string[] = [];
  const owners: { start: number; name: string }[] = [];
  objects.forEach((obj, i) => {
    // one module per kind (kubernetes-models/apps/v1/StatefulSet), loaded alone: the whole package takes seconds
    lines.push(`import type { I${obj.kind} as T${i} } from ${JSON.stringify(`kubernetes-models/${obj.apiVersion}/${obj.kind}`)};`);
    owners.push({ start: -1, name: `${obj.kind} ${obj.metadata.name}` });
  });
  let text = lines.join("\n") + "\n";
  objects.forEach((obj, i) => {
    owners[i].start = text.length;
    text += `export const o${i}: T${i} = ${JSON.stringify(obj, null, 1)};\n`;
  });
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === file ? ts.createSourceFile(name, text, lang) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const owner = owners.findLast((o) => d.start !== undefined && o.start <= d.start);
    return `${owner?.name ?? path.basename(d.file?.fileName ?? "?")}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}
