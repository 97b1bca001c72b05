// A vitest reporter that closes the run with one plain line,
// "vitest: N passed, N failed, N skipped", which any CI log reader understands.
import type { Reporter, TestModule } from "vitest/node";

export default class PlainSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandled?: ReadonlyArray<unknown>): void {
    let passed = 0, failed = 0, skipped = 0;
    for (const m of testModules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === "passed") passed++;
        else if (s === "failed") failed++;
        else skipped++;
      }
      // A file that failed to load, or whose hooks (beforeAll/afterAll, e.g. the JIT guard) failed
      // while every test passed, counts as one failure: the line never reads "0 failed" on a red run.
      if (m.state() === "failed" && ![...m.children.allTests()].some((t) => t.result().state === "failed")) failed++;
    }
    if (failed === 0 && (unhandled?.length ?? 0) > 0) failed += unhandled!.length;
    process.stdout.write(`vitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
