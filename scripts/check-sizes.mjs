// The size rules of CONTRIBUTING.md, checked in CI: no source file over 400 lines, no function over 80 lines
// (a function that is one declarative table, an object or array literal, is exempt).
import { readFileSync } from "node:fs";
import { execSync } from "node:child_process";
import ts from "typescript";

const MAX_FILE = 400;
const MAX_FUNCTION = 80;
const files = execSync("git ls-files 'runtime/*.ts' 'ml/*.ts' 'actors/*.ts' 'cli/*.ts' 'native/*.ts'", { encoding: "utf8" })
  .trim()
  .split("\n");
const problems = [];
for (const file of files) {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  if (lines > MAX_FILE) problems.push(`${file}: ${lines} lines (at most ${MAX_FILE})`);
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = src.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = src.getLineAndCharacterOfPosition(node.getEnd()).line;
      const body = node.body;
      const table =
        ts.isBlock(body) &&
        body.statements.length === 1 &&
        ts.isReturnStatement(body.statements[0]) &&
        body.statements[0].expression &&
        (ts.isObjectLiteralExpression(body.statements[0].expression) || ts.isArrayLiteralExpression(body.statements[0].expression));
      if (end - start + 1 > MAX_FUNCTION && !table) {
        const name = node.name?.getText(src) ?? (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(src) : "(anonymous)");
        problems.push(`${file}:${start + 1}: function ${name} has ${end - start + 1} lines (at most ${MAX_FUNCTION})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`sizes ok: ${files.length} files, none over ${MAX_FILE} lines, no function over ${MAX_FUNCTION}`);
