// SCENARIOS.md §4 with real containers: rmi refused while a container uses the image (Docker's
// message word for word), then after stop/rm the Untagged/Deleted sequence with the parent kept
// while a child exists; rmi -f of an image a running container uses leaves it dangling, and
// image prune takes it once the container is gone.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useBusyboxStore } from '../support/containers.js';
import { interopDescribe } from '../support/tools.js';

const TIMEOUT = 120_000;

/** The chain ID of an image's top layer: what `Deleted:` names after the image ID. */
function topChainId(inspectJson: string): string {
  const [image] = JSON.parse(inspectJson) as { RootFS: { Layers: string[] } }[];
  let chain = '';
  for (const diffId of image?.RootFS.Layers ?? []) {
    chain = chain === '' ? diffId : `sha256:${createHash('sha256').update(`${chain} ${diffId}`).digest('hex')}`;
  }
  return chain;
}

interopDescribe('SCENARIOS §4: removing images that containers use', ['runc', 'busybox'], () => {
  const store = useBusyboxStore('wharf-scenario4', TIMEOUT);
  const { wharf } = store;

  describe('in order', () => {
    it(
      'refuses while a container uses the image, then untags the parent and deletes the child chain',
      async () => {
        await wharf.ok(['run', '--name', 'commit_test', 'busybox', 'sh', '-c', 'echo test_first! >> first']);
        const first = (await wharf.ok(['commit', '-m', 'my first commit', 'commit_test', 'commit_test:first'])).trim();
        await wharf.ok([
          'run',
          '-d',
          '--name',
          'commit_test2',
          'commit_test:first',
          'sh',
          '-c',
          'echo second >> second; sleep 300',
        ]);
        // The file is there once the container wrote it; the commit pauses the running container.
        for (let i = 0; i < 100 && !(await wharf.ok(['diff', 'commit_test2'])).includes('A /second'); i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        const second = (
          await wharf.ok(['commit', '-m', 'my second commit', 'commit_test2', 'commit_test:second'])
        ).trim();
        const c2 = JSON.parse(await wharf.ok(['container', 'inspect', 'commit_test2'])) as { Id: string }[];
        const c2Id = c2[0]?.Id ?? '';

        const refused = await wharf.run(['rmi', 'commit_test:first']);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toBe(
          `Error response from daemon: conflict: unable to remove repository reference "commit_test:first" (must force) - container ${c2Id.slice(0, 12)} is using its referenced image ${first.slice(7, 19)}\n`,
        );

        await wharf.ok(['stop', '-t', '1', 'commit_test2']);
        await wharf.ok(['rm', 'commit_test2']);
        // first is still the parent of second: untagged only.
        expect(await wharf.ok(['rmi', 'commit_test:first'])).toBe('Untagged: commit_test:first\n');
        const firstChain = topChainId(await wharf.ok(['inspect', first]));
        const secondChain = topChainId(await wharf.ok(['inspect', 'commit_test:second']));

        const removed = await wharf.ok(['rmi', 'commit_test:second']);
        // busybox's layer stays: busybox (and the commit_test container) still use it.
        expect(removed).toBe(
          [
            'Untagged: commit_test:second',
            `Deleted: ${second}`,
            `Deleted: ${secondChain}`,
            `Deleted: ${first}`,
            `Deleted: ${firstChain}`,
            '',
          ].join('\n'),
        );
        const images = await wharf.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']);
        expect(images).toBe('busybox:latest\n');
      },
      TIMEOUT,
    );

    it(
      'rmi -f of an image a running container uses leaves it dangling; prune takes it after the container',
      async () => {
        await wharf.ok(['run', '--name', 'maker', 'busybox', 'sh', '-c', 'echo x > /made']);
        const id = (await wharf.ok(['commit', 'maker', 'inuse:1'])).trim();
        await wharf.ok(['run', '-d', '--name', 'user', 'inuse:1', 'sleep', '300']);
        expect(await wharf.ok(['rmi', '-f', 'inuse:1'])).toBe('Untagged: inuse:1\n');
        expect(await wharf.ok(['images', '-q', '--no-trunc', '--filter', 'dangling=true'])).toBe(`${id}\n`);
        // Pruning skips what a container uses.
        expect(await wharf.ok(['image', 'prune', '-f'])).toBe('Total reclaimed space: 0B\n');
        await wharf.ok(['rm', '-f', 'user']);
        const pruned = await wharf.ok(['image', 'prune', '-f']);
        expect(pruned).toContain(`deleted: ${id}\n`);
        expect(pruned).toMatch(/\nTotal reclaimed space: \d+(\.\d+)?k?B\n$/);
        expect(await wharf.ok(['images', '-q', '--filter', 'dangling=true'])).toBe('');
      },
      TIMEOUT,
    );
  });
});
