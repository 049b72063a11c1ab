// `npm run bench`: the default benches one after another, as before; with --storage or
// --database (`npm run bench -- --storage s3 --database postgres`) only the scale-out bench
// (bench/scale.ts), which takes those options. Stops at the first bench that fails.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT = ['startup.ts', 'run.ts', 'image-tool.ts', 'search.ts', 'gc.ts', 'proxy.ts'];
const args = process.argv.slice(2);
const scale = args.some((a) => /^--(storage|database)(=|$)/.test(a));
// Extra arguments went to the last bench before this dispatcher existed (proxy.ts); they still do.
const runs: [string, string[]][] = scale
  ? [['scale.ts', args]]
  : DEFAULT.map((file, i) => [file, i === DEFAULT.length - 1 ? args : []]);
for (const [file, extra] of runs) {
  const r = spawnSync(join(here, '..', 'node_modules', '.bin', 'tsx'), [join(here, file), ...extra], {
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
