// Wharf's container image built without the internet: a Debian base made by debootstrap with
// this host's Node (wharf-base-image.sh, cached under /var/tmp), and a build context holding
// the app built on this host (the Dockerfile's `prebuilt` target), since builds in the test
// engine cannot reach the npm registry.
import { cp, mkdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dockerd } from './dockerd.js';
import { runOk } from './tools.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** Builds (or finds in the cache) the base tarball and imports it into `d` as `ref`. */
export async function importBaseImage(d: Dockerd, ref: string): Promise<void> {
  const script = join(REPO_ROOT, 'test', 'support', 'wharf-base-image.sh');
  const tarball = (await runOk('bash', [script], { timeoutMs: 10 * 60_000 })).stdout.trim().split('\n').pop() ?? '';
  await d.dockerOk(['import', tarball, ref], { timeoutMs: 5 * 60_000 });
}

/**
 * A build context for `--target prebuilt` in `dir`: the Dockerfile, package files, dist/ (run
 * `npm run build` first), the UI's templates and production node_modules (the checkout's,
 * pruned of dev dependencies, offline).
 */
export async function stagePrebuiltContext(dir: string): Promise<void> {
  for (const f of ['Dockerfile', 'package.json', 'package-lock.json']) await cp(join(REPO_ROOT, f), join(dir, f));
  await cp(join(REPO_ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  await mkdir(join(dir, 'src', 'server', 'ui'), { recursive: true });
  for (const sub of ['views', 'static']) {
    await cp(join(REPO_ROOT, 'src', 'server', 'ui', sub), join(dir, 'src', 'server', 'ui', sub), { recursive: true });
  }
  // node_modules may be a symlink (worktrees share one): copy what it points to.
  await cp(await realpath(join(REPO_ROOT, 'node_modules')), join(dir, 'node_modules'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await runOk('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: dir,
    timeoutMs: 5 * 60_000,
  });
}
