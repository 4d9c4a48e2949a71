// Add up the vitest JSON reports of every runtime (test/run.mjs writes one per runtime) and print the plain
// closing line CI reads: "N passed, N failed[, N skipped]". Fails if a report is missing, stale or failed.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? '.vitest-results.json';
const RUNTIMES = ['node', 'node24', 'bun', 'deno'];
const reportOf = (runtime) => (runtime === 'node' ? file : file.replace(/\.json$/, `.${runtime}.json`));

const problems = [];
const totals = { passed: 0, failed: 0, skipped: 0, total: 0 };
let nodeStart;
for (const runtime of RUNTIMES) {
  const path = reportOf(runtime);
  let report;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    problems.push(`${runtime}: no vitest report at ${path}: ${error.message}`);
    continue;
  }
  const {
    numPassedTests: passed,
    numFailedTests: failed,
    numPendingTests: skipped,
    numTotalTests: total,
    numFailedTestSuites: failedSuites,
    startTime,
  } = report;
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  totals.total += total;
  console.log(`${runtime}: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (failed > 0 || failedSuites > 0 || report.success === false) {
    problems.push(`${runtime}: ${failed} tests and ${failedSuites} files or suites failed`);
  }
  if (total === 0 || passed === 0) problems.push(`${runtime}: no test passed`);
  // test/run.mjs runs the system Node first: a report older than Node's is left from an earlier run.
  if (runtime === 'node') nodeStart = startTime;
  else if (nodeStart !== undefined && startTime < nodeStart)
    problems.push(`${runtime}: ${path} is from an earlier run`);
}
for (const problem of problems) console.error(problem);
const { passed, failed, skipped } = totals;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(problems.length === 0 ? 0 : 1);
