// Where overlay cannot be mounted (here: a store inside an overlay mount, as when wharf runs in a
// container), containers get copied root filesystems: wharf says so once, and run, diff,
// commit, export and rmi give the same results as with overlay.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importBusybox, tarEntries, type Wharf, wharfIn } from '../support/busybox.js';
import { CHANGES_DIFF, CHANGES_SCRIPT } from '../support/containers.js';
import { interopDescribe, removeTmpDir, tmpDir } from '../support/tools.js';

const TIMEOUT = 180_000;
const NOTICE = /^wharf: overlay mounts do not work here \(.+\); containers get copied root filesystems/m;

interopDescribe('containers without overlay (copied roots)', ['runc', 'busybox'], () => {
  let dir = '';
  let root = '';
  let mounted = '';
  let wharf: Wharf;

  beforeAll(async () => {
    dir = await tmpDir('wharf-copied-');
    const [lower, upper, work] = ['lower', 'upper', 'work'].map((d) => join(dir, d));
    mounted = join(dir, 'merged');
    await Promise.all([lower, upper, work, mounted].map((d) => mkdir(d as string)));
    // An overlay upper directory cannot hold another overlay's directories: overlay fails inside.
    execFileSync('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      mounted,
    ]);
    root = join(mounted, 'store');
    wharf = wharfIn(root, { timeoutMs: TIMEOUT, env: { ...process.env, WHARF_ROOTFS: '' } });
    await importBusybox(root, 'busybox:latest');
  }, TIMEOUT);

  afterAll(async () => {
    if (root) {
      const ids = (await wharf.run(['ps', '-aq'])).stdout.split('\n').filter((l) => l !== '');
      if (ids.length > 0) await wharf.run(['rm', '-f', ...ids]);
    }
    if (mounted) execFileSync('umount', [mounted]);
    if (dir) await removeTmpDir(dir);
  }, TIMEOUT);

  it(
    'says once that overlay is missing, then runs containers on a copy of the image',
    async () => {
      const first = await wharf.run(['run', '--name', 'changes', 'busybox', 'sh', '-c', CHANGES_SCRIPT]);
      expect(first.code).toBe(0);
      expect(first.stderr).toMatch(NOTICE);
      // Said once per store; a new container starts from the image, not from the other's copy.
      const second = await wharf.run(['run', '--rm', 'busybox', 'sh', '-c', 'test -e /first || echo clean']);
      expect(second.stderr).toBe('');
      expect(second.stdout).toBe('clean\n');
      const inspect = JSON.parse(await wharf.ok(['container', 'inspect', 'changes'])) as {
        GraphDriver: { Name: string };
      }[];
      expect(inspect[0]?.GraphDriver.Name).toBe('vfs');
    },
    TIMEOUT,
  );

  it(
    'diff lists the same changes as on overlay; commit and export carry them',
    async () => {
      expect(await wharf.ok(['diff', 'changes'])).toBe(CHANGES_DIFF);
      await wharf.ok(['commit', 'changes', 'changed:1']);
      const check = await wharf.run([
        'run',
        '--rm',
        'changed:1',
        'sh',
        '-c',
        'cat /first; ls /tmp; test -e /bin/ls || echo no-ls',
      ]);
      expect(check.stdout).toBe('test_first!\nnew\nno-ls\n');

      const file = join(dir, 'export.tar');
      await wharf.ok(['export', '-o', file, 'changes']);
      const names = (await tarEntries(file)).map((e) => e.name);
      expect(names).toContain('first');
      expect(names).toContain('tmp/new');
      expect(names).not.toContain('bin/ls');
    },
    TIMEOUT,
  );

  it(
    'rmi of the committed image removes its unpacked layers too',
    async () => {
      await wharf.ok(['rm', 'changes']);
      const flat = join(root, 'snapshots-flat');
      const before = await readdir(flat);
      await wharf.ok(['rmi', 'changed:1']);
      const after = await readdir(flat);
      expect(after.length).toBe(before.length - 1);
      expect(existsSync(join(root, 'snapshots'))).toBe(false); // no overlay lowers were ever made
    },
    TIMEOUT,
  );
});
