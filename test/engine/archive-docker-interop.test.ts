// Archives between Wharf and the real Docker engine, both ways: `docker save` output loads in Wharf
// with the same image IDs and tags, and `wharf save` output loads in `docker load` with the same
// image IDs. Also Docker's own wording for a refused --change, compared with Wharf's.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { wharf, wharfOk } from '../support/archives.js';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { busyboxRootfsTar } from '../support/rootfs.js';
import { interopDescribe, removeTmpDir, tmpDir } from '../support/tools.js';

const TIMEOUT = 240_000;

/** `repo:tag` → image ID, from `wharf images`. */
async function wharfTags(root: string): Promise<Record<string, string>> {
  const lines = (await wharfOk(root, ['images', '--no-trunc'])).stdout.trimEnd().split('\n').slice(1);
  return Object.fromEntries(
    lines.map((l) => {
      const [repo, tag, id] = l.split(/\s{2,}/);
      return [`${repo}:${tag}`, id as string];
    }),
  );
}

interopDescribe('save/load between wharf and the docker engine', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let dir: string;
  const opts = { timeoutMs: TIMEOUT };
  let baseId: string;
  let childId: string;

  beforeAll(async () => {
    [d, dir] = await Promise.all([startDockerd(), tmpDir('wharf-archive-docker-')]);
    baseId = await makeBusyboxImage(d, 'interop/base:1');
    childId = await commitLayer(d, 'interop/base:1', 'interop/child:1', 'etc/child.txt', 'child\n');
    await d.dockerOk(['tag', 'interop/base:1', 'interop/base:2']);
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), dir ? removeTmpDir(dir) : undefined]);
  }, TIMEOUT);

  it(
    'loads what docker save wrote: same image IDs and tags',
    async () => {
      const file = join(dir, 'docker-save.tar');
      await d.dockerOk(['save', '-o', file, 'interop/base', 'interop/child:1'], opts);
      const root = join(dir, 'from-docker');
      const r = await wharfOk(root, ['load', '-i', file]);
      expect(
        r.stdout
          .split('\n')
          .filter((l) => l !== '')
          .sort(),
      ).toEqual(['Loaded image: interop/base:1', 'Loaded image: interop/base:2', 'Loaded image: interop/child:1']);
      expect(await wharfTags(root)).toEqual({
        'interop/base:1': baseId,
        'interop/base:2': baseId,
        'interop/child:1': childId,
      });
      // And from stdin, compressed, as `docker save | gzip | docker load` would.
      const gz = join(dir, 'docker-save.tar.gz');
      const { gzipSync } = await import('node:zlib');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(gz, gzipSync(await readFile(file)));
      const root2 = join(dir, 'from-docker-gz');
      await wharfOk(root2, ['load'], { input: await readFile(gz) });
      expect(await wharfTags(root2)).toEqual(await wharfTags(root));
    },
    TIMEOUT,
  );

  it(
    'writes what docker load reads: same image IDs and tags, for images made by docker and by wharf',
    async () => {
      const root = join(dir, 'to-docker');
      await wharfOk(root, ['load', '-i', join(dir, 'docker-save.tar')]);
      const rootfs = await busyboxRootfsTar(dir);
      const importedId = (
        await wharfOk(root, ['import', '-c', 'CMD ["/bin/sh"]', rootfs, 'interop/imported:1'])
      ).stdout.trim();
      await d.dockerOk(['rmi', 'interop/base:1', 'interop/base:2', 'interop/child:1'], opts);
      const file = join(dir, 'wharf-save.tar');
      await wharfOk(root, ['save', '-o', file, 'interop/base', 'interop/child:1', 'interop/imported:1']);
      const loaded = await d.dockerOk(['load', '-i', file], opts);
      expect(loaded).toContain('Loaded image: interop/child:1');
      const inspect = async (ref: string) =>
        (await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref], opts)).trim();
      expect(await inspect('interop/base:1')).toBe(baseId);
      expect(await inspect('interop/base:2')).toBe(baseId);
      expect(await inspect('interop/child:1')).toBe(childId);
      expect(await inspect('interop/imported:1')).toBe(importedId);
      // Docker sees the imported image as wharf made it: one layer, the CMD, the comment.
      const history = await d.dockerOk(
        ['history', '--no-trunc', '--format', '{{.Comment}}', 'interop/imported:1'],
        opts,
      );
      expect(history.trim()).toBe('Imported from -');
      const cmd = await d.dockerOk(
        ['image', 'inspect', '--format', '{{json .Config.Cmd}}', 'interop/imported:1'],
        opts,
      );
      expect(cmd.trim()).toBe('["/bin/sh"]');
    },
    TIMEOUT,
  );

  it(
    'round-trips wharf save → wharf load into a fresh store',
    async () => {
      const file = join(dir, 'wharf-save.tar');
      const root = join(dir, 'round-trip');
      await wharfOk(root, ['load', '-i', file]);
      expect(await wharfTags(root)).toEqual(await wharfTags(join(dir, 'to-docker')));
    },
    TIMEOUT,
  );

  it(
    'refuses a --change the way docker import does',
    async () => {
      const rootfs = join(dir, 'rootfs.tar');
      const docker = await d.docker(['import', '-c', 'RUN echo hi', rootfs], opts);
      const ours = await wharf(join(dir, 'bad-change'), ['import', '-c', 'RUN echo hi', rootfs]);
      expect(docker.code).not.toBe(0);
      expect(ours.code).toBe(1);
      expect(ours.stderr).toBe(docker.stderr);
    },
    TIMEOUT,
  );
});
