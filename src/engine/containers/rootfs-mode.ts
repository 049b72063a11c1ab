// How containers of a store get their root filesystem: an overlay mount (fast, shared layers),
// or, where overlay cannot be mounted (inside some containers, on some filesystems), a copied
// root: the layers unpacked into a directory of the container's own. Decided once per store.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountOverlay, unmountIfMounted } from '../../runtime/bundle.js';

export type RootfsMode = 'overlay' | 'copy';

const MODE_FILE = 'rootfs-mode';

/** WHARF_ROOTFS=overlay|copy forces a mode (copy: for tests, or to avoid overlay on purpose). */
function forced(): RootfsMode | undefined {
  const value = process.env.WHARF_ROOTFS;
  if (value === undefined || value === '') return undefined;
  if (value !== 'overlay' && value !== 'copy') throw new Error(`WHARF_ROOTFS must be overlay or copy, not ${value}`);
  return value;
}

/** Whether an overlay can be mounted with its directories on the store's filesystem. */
async function probeOverlay(root: string): Promise<string | undefined> {
  const dir = join(root, 'tmp', `overlay-probe-${process.pid}`);
  const target = join(dir, 'merged');
  try {
    await mkdir(join(dir, 'lower'), { recursive: true });
    await mountOverlay([join(dir, 'lower')], join(dir, 'upper'), join(dir, 'work'), target);
    await unmountIfMounted(target);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await unmountIfMounted(target).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The mode of new containers in the store at `root`. The first time, overlay is tried; when it
 * cannot be mounted, that is said once (on stderr) and remembered.
 */
export async function rootfsMode(root: string): Promise<RootfsMode> {
  const wanted = forced();
  if (wanted) return wanted;
  const file = join(root, MODE_FILE);
  const known = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (known === 'overlay' || known === 'copy') return known;
  const failure = await probeOverlay(root);
  const mode: RootfsMode = failure === undefined ? 'overlay' : 'copy';
  if (failure !== undefined) {
    process.stderr.write(
      `wharf: overlay mounts do not work here (${failure.split('\n')[0]}); containers get copied root filesystems: slower to create, and each takes the full size of its image\n`,
    );
  }
  await writeFile(file, `${mode}\n`);
  return mode;
}
