// The house's layering (docs/architecture.md) is a check that fails `npm run lint`: dependency-cruiser
// with .dependency-cruiser.cjs. This shows that it passes on the real tree and fails on upward imports,
// peer imports, circles and unknown folders, on a copy of src/ with deliberate violations added.
import { cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTmpDir, run, tmpDir } from './support/tools.js';

const ROOT = resolve(import.meta.dirname, '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
/** One cruise of src/ takes about 5 s; more on a loaded machine. */
const TIMEOUT = 180_000;

/** Runs the project's check on `cwd`/src exactly as `npm run lint` does; the violations as `rule: from -> to`. */
async function cruise(cwd: string): Promise<{ code: number; violations: string[] }> {
  const result = await run(process.execPath, [DEPCRUISE, 'src', '--config', CONFIG], { cwd, timeoutMs: TIMEOUT });
  const violations = [...result.stdout.matchAll(/^\s*error (\S+): (\S+) →\s+(\S+)/gm)].map(
    ([, rule, from, to]) => `${rule}: ${from} -> ${to}`,
  );
  return { code: result.code, violations };
}

describe('the layering check', () => {
  let fixture: string;

  beforeAll(async () => {
    fixture = await tmpDir('wharf-layering');
    await cp(join(ROOT, 'src'), join(fixture, 'src'), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(fixture, 'node_modules'));
    const add = async (path: string, text: string) => {
      await mkdir(join(fixture, path, '..'), { recursive: true });
      await writeFile(join(fixture, path), text);
    };
    // Upward: the bottom layers reaching for the HTTP server and the image store.
    await add('src/oci/x.ts', "export { buildServer } from '../server/app.js';\n");
    await add('src/runtime/x.ts', "import type { EngineDb } from '../engine/db.js';\nexport type X = EngineDb;\n");
    // Sideways: a peer on the same level.
    await add('src/storage/x.ts', "export * from '../client/index.js';\n");
    // A circle inside one folder.
    await add('src/archive/circle-a.ts', "import { b } from './circle-b.js';\nexport const a = () => b;\n");
    await add('src/archive/circle-b.ts', "import { a } from './circle-a.js';\nexport const b = () => a;\n");
    // A folder without a level.
    await add('src/newthing/x.ts', "export { parseDigest } from '../oci/digest.js';\n");
  });

  afterAll(async () => {
    if (fixture) await removeTmpDir(fixture);
  });

  it(
    'passes on the real tree',
    async () => {
      const { code, violations } = await cruise(ROOT);
      expect(violations).toEqual([]);
      expect(code).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'fails on upward and sideways imports, circles and folders without a level',
    async () => {
      const { code, violations: found } = await cruise(fixture);
      expect(code).not.toBe(0);
      expect(found).toContain('layer-oci: src/oci/x.ts -> src/server/app.ts');
      expect(found).toContain('layer-runtime: src/runtime/x.ts -> src/engine/db.ts');
      expect(found).toContain('layer-storage: src/storage/x.ts -> src/client/index.ts');
      expect(found.some((f) => f.startsWith('no-circular: src/archive/circle-'))).toBe(true);
      expect(found).toContain('no-unknown-folder: src/newthing/x.ts -> src/oci/digest.ts');
    },
    TIMEOUT,
  );
});
