// Fixtures of the container tests (runc): a Wharf store with busybox:latest, and the test Docker
// engine with the same busybox image, to compare with. Call them inside a describe block: they
// register its beforeAll and afterAll.
import { afterAll, beforeAll } from 'vitest';
import { importBusybox, type Wharf, wharfIn } from './busybox.js';
import { canRunContainers, type Dockerd, makeBusyboxImage, startDockerd } from './dockerd.js';
import { removeTmpDir, tmpDir } from './tools.js';

/** Adds, changes, deletes, a copy-up without change (a hardlink), an opaque directory. */
export const CHANGES_SCRIPT = [
  'echo test_first! >> first',
  'rm /bin/ls',
  'mkdir -p /a/b',
  'touch /a/b/c',
  'echo x >> /etc/passwd',
  'rm -rf /tmp',
  'mkdir /tmp',
  'touch /tmp/new',
  'ln -s /etc/passwd /link',
  'ln /etc/group /hl',
].join('; ');

/** `wharf diff` of a container that ran CHANGES_SCRIPT on busybox (what `docker diff` lists too). */
export const CHANGES_DIFF = [
  'A /a',
  'A /a/b',
  'A /a/b/c',
  'C /bin',
  'D /bin/ls',
  'C /etc',
  'C /etc/passwd',
  'A /first',
  'A /hl',
  'A /link',
  'C /tmp',
  'A /tmp/new',
  '',
].join('\n');

export interface BusyboxStore {
  /** The store's directory (`--root`). */
  readonly root: string;
  /** A scratch directory, removed with the store. */
  readonly work: string;
  /** The image ID of busybox:latest. */
  readonly busyboxId: string;
  /** The wharf CLI on the store. */
  readonly wharf: Wharf;
}

/**
 * A store (directory `<prefix>-root…`) with busybox:latest imported, made in beforeAll (as root:
 * containers need it). afterAll removes the containers left (running ones too, so nothing stays
 * mounted) and deletes the store and the scratch directory. Fields are set once beforeAll has run.
 */
export function useBusyboxStore(prefix: string, timeoutMs: number): BusyboxStore {
  let root = '';
  let work = '';
  let busyboxId = '';
  const wharf = wharfIn(() => root, { timeoutMs });

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('containers need root: run these tests as root');
    [root, work] = await Promise.all([tmpDir(`${prefix}-root`), tmpDir(`${prefix}-work`)]);
    busyboxId = await importBusybox(root, 'busybox:latest');
  }, timeoutMs);

  afterAll(async () => {
    if (busyboxId) {
      const ids = (await wharf.ok(['ps', '-aq'])).split('\n').filter((l) => l !== '');
      if (ids.length > 0) await wharf.run(['rm', '-f', ...ids]);
    }
    await Promise.all([root && removeTmpDir(root), work && removeTmpDir(work)]);
  }, timeoutMs);

  return {
    get root() {
      return root;
    },
    get work() {
      return work;
    },
    get busyboxId() {
      return busyboxId;
    },
    wharf,
  };
}

export interface DockerWithBusybox extends Pick<Dockerd, 'docker' | 'dockerOk'> {
  /**
   * Whether the engine can run containers; when it cannot, says so (skipping `what`), and throws
   * under WHARF_REQUIRE_INTEROP=1.
   */
  requireRun(what: string): boolean;
}

/**
 * The test Docker engine (started in beforeAll, stopped in afterAll) with busybox:latest made
 * from the same rootfs tar as useBusyboxStore's, so both sides start from the same layer.
 */
export function useDockerWithBusybox(timeoutMs: number): DockerWithBusybox {
  let d: Dockerd | undefined;
  let canRun = false;
  const engine = (): Dockerd => {
    if (!d) throw new Error('the test Docker engine is not started');
    return d;
  };

  beforeAll(async () => {
    d = await startDockerd();
    await makeBusyboxImage(d, 'busybox:latest');
    canRun = await canRunContainers(d, 'busybox:latest');
  }, timeoutMs);

  afterAll(async () => {
    await d?.stop();
  }, timeoutMs);

  return {
    docker: (args, opts) => engine().docker(args, opts),
    dockerOk: (args, opts) => engine().dockerOk(args, opts),
    requireRun(what) {
      if (canRun) return true;
      const why = 'the test Docker engine cannot run containers (docker run --network none failed)';
      if (process.env.WHARF_REQUIRE_INTEROP === '1') throw new Error(why);
      console.warn(`[interop] skipping ${what}: ${why}`);
      return false;
    },
  };
}
