// The `wharf` bin as shipped: src/cli/main.ts and everything it imports bundled by esbuild into
// dist/bundle, one small entry plus code-split chunks that each command loads lazily (loading a
// few files is what makes a fast start; loading hundreds of ES modules one by one is not).
// Native addons stay external: they are loaded from node_modules as compiled for this runtime.
//   node scripts/bundle.mjs            (part of `npm run build`)
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');

await rm(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { 'cli/main': 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // Two directories down, like src/<layer>/<module>: modules that find the CLI entry as
  // new URL('../../cli/main.js', import.meta.url) (the container monitor is spawned that way)
  // find dist/bundle/cli/main.js from any chunk.
  chunkNames: 'lib/chunks/[name]-[hash]',
  external: ['better-sqlite3', '@node-rs/argon2'],
  // CommonJS dependencies bundled into ES modules still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __wharfRequire } from 'node:module'; const require = __wharfRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length;
console.log(`bundle: ${files} files, ${(bytes / 2 ** 20).toFixed(1)} MiB in ${outdir}`);
