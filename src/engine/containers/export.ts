// `docker export`: the container's merged root filesystem (image layers + init layer + its own
// changes, as overlayfs shows them) as one tar. No whiteouts (the merged view has none), and no
// volume contents: a volume's mount point is written as the empty directory it is in the rootfs.
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { packDirectory } from '../../archive/pack.js';
import { isMounted } from '../../runtime/bundle.js';
import { DaemonError } from '../images.js';
import type { LocalStore } from '../store.js';
import { mountRootfs, unmountRootfs } from './bundle.js';
import { containerLayout } from './layout.js';
import { reconcile } from './lifecycle.js';
import type { Container } from './records.js';

/** Mount points strictly below `dir` (from /proc/self/mountinfo), relative to it. */
async function mountsBelow(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const below: string[] = [];
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = field.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (point.startsWith(`${dir}/`)) below.push(point.slice(dir.length + 1));
  }
  return below;
}

/** Streams the container's filesystem as a tar into `out`. */
export async function exportContainer(store: LocalStore, container: Container, out: Writable): Promise<void> {
  const current = await reconcile(store, container);
  if (current.status === 'dead') throw new DaemonError(`You cannot export container ${current.id} which is Dead`);
  const rootfs = containerLayout.rootfs(store.root, current.id);
  // A stopped container's rootfs is mounted for the export only.
  const mountedHere = !(await isMounted(rootfs));
  if (mountedHere) await mountRootfs(store, current);
  try {
    // Volume destinations, and anything else mounted inside (never the host's files): their
    // directories are kept, their contents are not.
    const skipped = [
      ...current.hostConfig.Mounts.map((m) => m.Destination.replace(/^\/+|\/+$/g, '')),
      ...(await mountsBelow(rootfs)),
    ].filter((p) => p !== '');
    const exclude = (path: string) => skipped.some((s) => path.startsWith(`${s}/`));
    await pipeline(packDirectory(rootfs, { exclude }), out);
  } finally {
    if (mountedHere) await unmountRootfs(store.root, current.id);
  }
}
