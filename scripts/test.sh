#!/usr/bin/env bash
# Runs the whole test suite and ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
report=$(mktemp -t troupe-vitest-XXXXXX.json)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node -e '
const fs = require("fs");
let r = {};
try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
const passed = r.numPassedTests ?? 0, failed = r.numFailedTests ?? 0, skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
const broken = (r.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
console.log(`${passed} passed, ${failed + broken} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report"
rm -f "$report"
exit $status
