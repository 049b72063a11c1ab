import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The store lock between concurrent `wharf` processes: a file created exclusively (`O_EXCL`)
 * holding the owner's pid. It guards the short steps that must see the database and the content
 * store together: recording an image after checking its blobs are present, and deleting blobs
 * no image uses. Downloads and uploads run outside it. A lock left by a dead process is taken over.
 */
const LOCK_FILE = 'store.lock';
const POLL_MS = 25;
const TIMEOUT_MS = 120_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryAcquire(file: string): Promise<boolean> {
  try {
    const handle = await open(file, 'wx', 0o600);
    await handle.writeFile(String(process.pid));
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  // An empty file is a lock being written right now; only a dead owner's lock is stale.
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !alive(owner)) {
    // Rename first so that two processes cannot both remove the stale lock and a fresh one.
    const stale = `${file}.stale-${process.pid}`;
    if (
      await rename(file, stale).then(
        () => true,
        () => false,
      )
    ) {
      // Another process may have taken over in between: then what was renamed is its live lock.
      const moved = Number.parseInt(await readFile(stale, 'utf8').catch(() => ''), 10);
      if (moved === owner) await unlink(stale).catch(() => {});
      else await rename(stale, file).catch(() => {});
    }
  }
  return false;
}

/** Runs `fn` holding the store lock of `root`. */
export async function withStoreLock<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const file = join(root, LOCK_FILE);
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await tryAcquire(file))) {
    if (Date.now() > deadline) {
      throw new Error(`the local store ${root} is locked by another wharf process (${file}); try again`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  try {
    return await fn();
  } finally {
    await unlink(file).catch(() => {});
  }
}
