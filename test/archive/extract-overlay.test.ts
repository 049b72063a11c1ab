// Layers unpacked as overlayfs lowers (`whiteouts: 'overlay'`): each layer in a directory of its
// own, whiteouts kept in overlay's form, so that mounting the layers together shows the image.
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { interopDescribe, rootDescribe } from '../support/tools.js';
import { apply, dir, file, tempDir, tree } from './helpers.js';

const mounted: string[] = [];
afterEach(() => {
  for (const m of mounted.splice(0)) execFileSync('umount', [m]);
});

interopDescribe('overlay whiteouts', ['setfattr', 'getfattr'], () => {
  rootDescribe('as root (overlay mounts and whiteout devices need root)', () => {
    it('writes a 0:0 character device for .wh.NAME and the opaque xattr for .wh..wh..opq', async () => {
      const root = await tempDir();
      const stats = await apply(
        root,
        [dir('a/'), file('a/.wh.f', ''), file('d/.wh..wh..opq', ''), file('d/new', 'n')],
        {
          whiteouts: 'overlay',
        },
      );
      expect(stats.whiteouts).toBe(2);
      const device = await lstat(join(root, 'a', 'f'));
      expect(device.isCharacterDevice()).toBe(true);
      expect(device.rdev).toBe(0);
      const xattr = execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(root, 'd')]);
      expect(xattr.toString()).toBe('y');
    });

    it('mounted together, the layers show the image: removed files gone, opaque directories emptied', async () => {
      const lower1 = await tempDir();
      await apply(lower1, [dir('a/'), file('a/f', 'f'), file('a/g', 'g'), dir('d/'), file('d/old', 'o')], {
        whiteouts: 'overlay',
      });
      const lower2 = await tempDir();
      await apply(lower2, [file('a/.wh.f', ''), file('d/.wh..wh..opq', ''), file('d/new', 'n')], {
        whiteouts: 'overlay',
      });
      const work = await tempDir();
      const [upper, workdir, merged] = [join(work, 'upper'), join(work, 'work'), join(work, 'merged')];
      await Promise.all([upper, workdir, merged].map((d) => mkdir(d)));
      execFileSync('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${lower2}:${lower1},upperdir=${upper},workdir=${workdir}`,
        merged,
      ]);
      mounted.push(merged);
      expect(await tree(merged)).toEqual(['a/', 'a/g', 'd/', 'd/new']);
      expect(await readFile(join(merged, 'd', 'new'), 'utf8')).toBe('n');
      expect(await readdir(upper)).toEqual([]);
    });
  });
});
