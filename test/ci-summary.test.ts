// .ci/run ends with .ci/summary.cjs: "N passed, N failed, N skipped", failing the run when a test
// was skipped for a missing tool (or for not being root, the same guard) or with no reason, but not
// for a deliberate skip. Shown on real vitest runs of test/support/skip-fixture.ts.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, removeTmpDir, run, tmpDir } from './support/tools.js';

const ROOT = resolve(import.meta.dirname, '..');
const VITEST = join(ROOT, 'node_modules/vitest/vitest.mjs');
const SUMMARY = join(ROOT, '.ci/summary.cjs');
const TIMEOUT = 120_000;

describe('the CI summary line', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await tmpDir('wharf-ci-summary');
    await writeFile(
      join(dir, 'vitest.config.mjs'),
      "export default { test: { include: ['test/support/skip-fixture.ts'], pool: 'forks' } };\n",
    );
  });
  afterAll(async () => {
    if (dir) await removeTmpDir(dir);
  });

  /** Runs the fixture as .ci/run runs the suite, then the summary; its output and exit code. */
  async function ci(kind: string, require: boolean): Promise<{ code: number; lines: string[] }> {
    const env: NodeJS.ProcessEnv = {};
    // The fixture's own vitest, not this one's workers.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_OPTIONS') env[k] = v;
    delete env.WHARF_REQUIRE_INTEROP;
    // The fixture's own guards decide (CI's Node 24 leg sets WHARF_INTEROP=skip for its real tests).
    delete env.WHARF_INTEROP;
    if (require) env.WHARF_REQUIRE_INTEROP = '1';
    env.WHARF_SKIP_FIXTURE = kind;
    const report = join(dir, `${kind}-${require}.json`);
    const args = ['run', '--root', ROOT, '--config', join(dir, 'vitest.config.mjs')];
    const tests = await run(process.execPath, [VITEST, ...args, '--reporter=json', `--outputFile=${report}`], {
      env,
      cwd: ROOT,
      timeoutMs: TIMEOUT,
    });
    const summary = await run(process.execPath, [SUMMARY, report, String(tests.code), '0']);
    return { code: summary.code, lines: summary.stdout.trim().split('\n') };
  }

  // As root (CI), the non-root twin is skipped on purpose; elsewhere it runs.
  const base = isRoot() ? { passed: 1, skipped: 1 } : { passed: 2, skipped: 0 };

  it(
    'counts a deliberate skip and passes',
    async () => {
      const { code, lines } = await ci('none', true);
      expect(lines.at(-1)).toBe(`${base.passed} passed, 0 failed, ${base.skipped} skipped`);
      expect(code).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'fails on a test skipped for a missing tool, naming it',
    async () => {
      const { code, lines } = await ci('tool', false);
      expect(lines.at(-1)).toBe(`${base.passed} passed, 1 failed, ${base.skipped + 1} skipped`);
      expect(lines.join('\n')).toMatch(
        /FAILED \(skipped in CI\): .*skip-fixture\.ts: needs a tool \[skipped: missing tool\(s\): wharf-no-such-tool;/,
      );
      expect(code).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'fails under WHARF_REQUIRE_INTEROP=1, where the missing tool is a failing test',
    async () => {
      const { code, lines } = await ci('tool', true);
      expect(lines.at(-1)).toBe(`${base.passed} passed, 1 failed, ${base.skipped} skipped`);
      expect(code).toBe(1);
    },
    TIMEOUT,
  );

  it(
    'fails on a skip that gives no reason',
    async () => {
      const { code, lines } = await ci('bare', true);
      expect(lines.at(-1)).toBe(`${base.passed} passed, 1 failed, ${base.skipped + 1} skipped`);
      expect(lines.join('\n')).toContain('skip-fixture.ts: skipped with no reason > never runs');
      expect(code).toBe(1);
    },
    TIMEOUT,
  );
});
