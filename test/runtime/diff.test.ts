// `wharf diff`: the A/C/D lines of a container's changes, and the same changes as `docker diff`
// for the same command on the same base (one busybox rootfs imported into both).
import { expect, it } from 'vitest';
import { CHANGES_DIFF, CHANGES_SCRIPT, useBusyboxStore, useDockerWithBusybox } from '../support/containers.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 180_000;

const sorted = (out: string) =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .sort();

interopDescribe('wharf diff', ['runc', 'busybox', 'getfattr'], () => {
  const { wharf } = useBusyboxStore('wharf-diff', TIMEOUT);

  it(
    'lists added, changed and deleted paths, parents before their contents',
    async () => {
      await wharf.ok(['run', '--name', 'changes', 'busybox', 'sh', '-c', CHANGES_SCRIPT]);
      const out = await wharf.ok(['diff', 'changes']);
      expect(out).toBe(CHANGES_DIFF);
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
    const d = useDockerWithBusybox(TIMEOUT);

    it(
      'gives the same changes for the same command on the same base',
      async () => {
        if (!d.requireRun('docker diff comparison')) return;
        await d.dockerOk(['run', '--name', 'same', '--network', 'none', 'busybox', 'sh', '-c', CHANGES_SCRIPT]);
        await wharf.ok(['run', '--name', 'same', 'busybox', 'sh', '-c', CHANGES_SCRIPT]);
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
