// The last line of .ci/run: "N passed, N failed, N skipped", from vitest's JSON reports.
// Usage: node .ci/summary.cjs REPORT.json TEST_EXIT_STATUS LINT_EXIT_STATUS [REPORT.json EXIT_STATUS]...
// Each further pair is another leg of the run (Node 24, PostgreSQL); its counts are added the same way.
// Exits 1 when anything failed, including a test skipped without the deliberate mark
// (test/ci-summary.test.ts shows it on real vitest runs).
const fs = require("node:fs");
const [file, status, lintStatus] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 0)];
const legs = [[file, status]];
for (let i = 5; i + 1 < process.argv.length; i += 2) legs.push([process.argv[i], Number(process.argv[i + 1])]);
// Keep in step with SKIP_MARK in test/support/tools.ts: only this mark makes a skip acceptable here.
const DELIBERATE = "[skipped on purpose: ";
let passed = 0;
let failed = 0;
let skipped = 0;
for (const [report, exitStatus] of legs) {
  let legFailed = 0;
  try {
    const r = JSON.parse(fs.readFileSync(report, "utf8"));
    passed += Number(r.numPassedTests) || 0;
    legFailed = Number(r.numFailedTests) || 0;
    skipped += (Number(r.numPendingTests) || 0) + (Number(r.numTodoTests) || 0);
    // Suite-level errors (a file that fails to load, a failing beforeAll hook,
    // ...) fail the run without failing any single test.
    if (r.success === false && legFailed === 0) legFailed = Math.max(1, Number(r.numFailedTestSuites) || 0);
    // A skip for a missing tool or for not being root ("[skipped: ..."), or one
    // with no reason at all, is a failure in CI; it stays in the skipped count too.
    for (const f of r.testResults ?? []) {
      for (const t of f.assertionResults ?? []) {
        if (t.status === "passed" || t.status === "failed") continue;
        const name = [...(t.ancestorTitles ?? []), t.title].join(" > ");
        if (name.includes(DELIBERATE)) continue;
        console.log(`FAILED (skipped in CI): ${f.name}: ${name}`);
        legFailed++;
      }
    }
  } catch {
    // No report at all: the build (pretest), the leg's set-up or vitest itself failed.
    console.log(`FAILED: no test report in ${report}`);
    legFailed = Math.max(legFailed, 1);
  }
  // Anything else that made the leg fail (e.g. unhandled errors).
  if (exitStatus !== 0 && legFailed === 0) legFailed = 1;
  failed += legFailed;
}
if (lintStatus !== 0) {
  console.log("FAILED: npm run lint (biome or the layering check)");
  failed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
