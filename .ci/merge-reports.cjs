// Merges vitest JSON reports (the main run and the PostgreSQL run) into one for .ci/summary.cjs.
// Usage: node .ci/merge-reports.cjs OUT.json IN.json...  A missing or unreadable input counts as a failed suite.
const fs = require("node:fs");
const [out, ...inputs] = process.argv.slice(2);
const merged = { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, numFailedTestSuites: 0, success: true, testResults: [] };
for (const file of inputs) {
  let r;
  try {
    r = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    r = { success: false, numFailedTestSuites: 1 };
  }
  for (const k of ["numPassedTests", "numFailedTests", "numPendingTests", "numTodoTests", "numFailedTestSuites"]) merged[k] += Number(r[k]) || 0;
  merged.success = merged.success && r.success !== false;
  merged.testResults.push(...(r.testResults ?? []));
}
fs.writeFileSync(out, JSON.stringify(merged));
