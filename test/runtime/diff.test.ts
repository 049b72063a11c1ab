// `wharf diff`: the A/C/D lines of a container's changes, and the same changes as `docker diff`
// for the same command on the same base (one busybox rootfs imported into both).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { busyboxRootfsTar, importBusybox, wharfIn } from '../support/busybox.js';
import { canRunContainers, type Dockerd, startDockerd } from '../support/dockerd.js';
import { interopDescribe, removeTmpDir, tmpDir } from '../support/tools.js';

const TIMEOUT = 180_000;
const isRoot = process.getuid?.() === 0;

/** Adds, changes, deletes, a copy-up without change (a hardlink), an opaque directory. */
const SCRIPT = [
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

const sorted = (out: string) =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .sort();

interopDescribe('wharf diff', ['runc', 'busybox', 'getfattr'], () => {
  let root: string;
  let work: string;
  let wharf: ReturnType<typeof wharfIn>;

  beforeAll(async () => {
    if (!isRoot) throw new Error('containers need root: run these tests as root');
    [root, work] = await Promise.all([tmpDir('wharf-diff-root'), tmpDir('wharf-diff-work')]);
    wharf = wharfIn(root);
    await importBusybox(root, 'busybox:latest');
  }, TIMEOUT);

  afterAll(async () => {
    if (wharf) {
      const ids = (await wharf.ok(['ps', '-aq'])).split('\n').filter((l) => l !== '');
      if (ids.length > 0) await wharf.run(['rm', '-f', ...ids]);
    }
    await Promise.all([root && removeTmpDir(root), work && removeTmpDir(work)]);
  }, TIMEOUT);

  it(
    'lists added, changed and deleted paths, parents before their contents',
    async () => {
      await wharf.ok(['run', '--name', 'changes', 'busybox', 'sh', '-c', SCRIPT]);
      const out = await wharf.ok(['diff', 'changes']);
      expect(out).toBe(
        [
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
        ].join('\n'),
      );
    },
    TIMEOUT,
  );

  it(
    'lists each file hidden by an opaque directory as deleted, and nothing for an untouched container',
    async () => {
      await wharf.ok(['run', '--name', 'dirs', 'busybox', 'sh', '-c', 'mkdir /d; touch /d/old1 /d/old2']);
      await wharf.ok(['commit', 'dirs', 'dirs:1']);
      await wharf.ok(['run', '--name', 'opaque', 'dirs:1', 'sh', '-c', 'rm -rf /d && mkdir /d && touch /d/new']);
      expect(await wharf.ok(['diff', 'opaque'])).toBe('C /d\nA /d/new\nD /d/old1\nD /d/old2\n');
      await wharf.ok(['create', '--name', 'untouched', 'busybox']);
      expect(await wharf.ok(['diff', 'untouched'])).toBe('');
      await wharf.ok(['run', '--name', 'unchanged', 'busybox', 'true']);
      expect(await wharf.ok(['diff', 'unchanged'])).toBe('');
    },
    TIMEOUT,
  );

  it('answers an unknown container with Docker’s error', async () => {
    const r = await wharf.run(['diff', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error response from daemon: No such container: nope\n');
  });

  interopDescribe('against docker diff', ['dockerd', 'docker'], () => {
    let d: Dockerd;
    let canRun = false;

    beforeAll(async () => {
      d = await startDockerd();
      const tar = await busyboxRootfsTar(work);
      await d.dockerOk(['import', '--change', 'CMD ["/bin/sh"]', tar, 'busybox:latest']);
      canRun = await canRunContainers(d, 'busybox:latest');
    }, TIMEOUT);

    afterAll(async () => {
      await d?.stop();
    }, TIMEOUT);

    it(
      'gives the same changes for the same command on the same base',
      async () => {
        if (!canRun) {
          const why = 'the test Docker engine cannot run containers (docker run --network none failed)';
          if (process.env.WHARF_REQUIRE_INTEROP === '1') throw new Error(why);
          console.warn(`[interop] skipping docker diff comparison: ${why}`);
          return;
        }
        await d.dockerOk(['run', '--name', 'same', '--network', 'none', 'busybox', 'sh', '-c', SCRIPT]);
        await wharf.ok(['run', '--name', 'same', 'busybox', 'sh', '-c', SCRIPT]);
        const docker = await d.dockerOk(['diff', 'same']);
        const ours = await wharf.ok(['diff', 'same']);
        // Docker prints in Go map order (random): compare the sets.
        expect(sorted(ours)).toEqual(sorted(docker));
        expect(sorted(ours)).toContain('D /bin/ls');

        // An opaque directory over a directory with contents, both ways.
        const opaque = 'mkdir /d; touch /d/old1 /d/old2';
        await d.dockerOk(['run', '--name', 'dirs', '--network', 'none', 'busybox', 'sh', '-c', opaque]);
        await d.dockerOk(['commit', 'dirs', 'dirs:1']);
        const again = 'rm -rf /d && mkdir /d && touch /d/new && chmod 700 /d';
        await d.dockerOk(['run', '--name', 'opaque2', '--network', 'none', 'dirs:1', 'sh', '-c', again]);
        await wharf.ok(['run', '--name', 'opaque2', 'dirs:1', 'sh', '-c', again]);
        expect(sorted(await wharf.ok(['diff', 'opaque2']))).toEqual(sorted(await d.dockerOk(['diff', 'opaque2'])));
      },
      TIMEOUT,
    );
  });
});
