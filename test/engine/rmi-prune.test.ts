// SCENARIOS.md §4 without containers: Docker's rmi rules (untag vs delete, conflicts, -f,
// --no-prune, parents), image prune of dangling images, and the blobs that go with them.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withLocalStore } from '../../src/engine/store.js';
import { makeBase, makeChild } from '../support/images.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const short = (id: string) => id.slice(7, 19);
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

interface Layered {
  id: string;
  diffIds: string[];
  /** Blob digests of the layers (local layers: the diff IDs). */
  blobs: string[];
}

/** Chain IDs computed here, independently of src/engine/layers.ts. */
function chains(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha(`${out[out.length - 1]} ${d}`));
  return out;
}

interopDescribe('wharf rmi and image prune', ['busybox'], () => {
  let root: string;
  const wharf = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, WHARF_ROOT: root } });
  const describeImage = (id: string) =>
    withLocalStore(root, async (store): Promise<Layered> => {
      const rows = await store.db
        .selectFrom('image_layers')
        .select(['diff_id', 'blob_digest'])
        .where('image_id', '=', id)
        .orderBy('position')
        .execute();
      return { id, diffIds: rows.map((r) => r.diff_id), blobs: rows.map((r) => r.blob_digest) };
    });
  const stored = (digests: string[]) =>
    withLocalStore(root, async (store) => Promise.all(digests.map((d) => store.content.has(d))));

  let base: Layered;
  let first: Layered;
  let second: Layered;

  beforeAll(async () => {
    root = await tmpDir('wharf-rmi-');
    const ids = await withLocalStore(root, async (store) => {
      const b = await makeBase(store, 'docker.io/library/busybox', 'latest');
      const f = await makeChild(store, b, 'first', 'test_first!\n', {
        tag: { name: 'docker.io/library/commit_test', tag: 'first' },
        comment: 'my first commit',
      });
      const s = await makeChild(store, f, 'second', 'test_second!\n', {
        tag: { name: 'docker.io/library/commit_test', tag: 'second' },
        comment: 'my second commit',
      });
      return [b, f, s] as const;
    });
    base = await describeImage(ids[0]);
    first = await describeImage(ids[1]);
    second = await describeImage(ids[2]);
  }, 60_000);

  afterAll(async () => {
    if (root) await removeTmpDir(root);
  });

  it('refuses to delete a parent by ID: hard conflict, word for word', async () => {
    const r = await wharf('rmi', short(first.id));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `Error response from daemon: conflict: unable to delete ${short(first.id)} (cannot be forced) - image has dependent child images\n`,
    );
    // -f does not force a hard conflict.
    const forced = await wharf('rmi', '-f', short(first.id));
    expect(forced.code).toBe(1);
    expect(forced.stderr).toContain('(cannot be forced) - image has dependent child images');
    expect((await wharf('images', '-q', 'commit_test')).stdout).toBe(`${short(second.id)}\n${short(first.id)}\n`);
  });

  it('rmi of the parent tag only untags it (the parent still has a child)', async () => {
    const r = await wharf('rmi', 'commit_test:first');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Untagged: commit_test:first\n');
    // Untagged with a child: an intermediate image, shown only with -a.
    expect((await wharf('images', '-q')).stdout).not.toContain(short(first.id));
    const all = await wharf('images', '-a');
    expect(all.stdout).toMatch(new RegExp(`\\n<none>\\s+<none>\\s+${short(first.id)}\\s`));
  });

  it('rmi of the child deletes it, its layer, the untagged parent and its layer; the base stays', async () => {
    const r = await wharf('rmi', 'commit_test:second');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const secondChain = chains(second.diffIds);
    const firstChain = chains(first.diffIds);
    expect(r.stdout).toBe(
      [
        'Untagged: commit_test:second',
        `Deleted: ${second.id}`,
        `Deleted: ${secondChain[2]}`,
        `Deleted: ${first.id}`,
        `Deleted: ${firstChain[1]}`,
        '',
      ].join('\n'),
    );
    // The blobs of the deleted images are gone; the base's config and layer are still there.
    expect(await stored([second.id, first.id, second.blobs[2] as string, first.blobs[1] as string])).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(await stored([base.id, ...base.blobs])).toEqual([true, true]);
    expect((await wharf('images', '-a', '-q', '--no-trunc')).stdout).toBe(`${base.id}\n`);
  });

  it('an ID with tags in several repositories needs -f; -f untags every tag and deletes', async () => {
    await wharf('tag', 'busybox', 'other:1');
    await wharf('tag', 'busybox', 'other:2');
    const refused = await wharf('rmi', short(base.id));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `Error response from daemon: conflict: unable to delete ${short(base.id)} (must be forced) - image is referenced in multiple repositories\n`,
    );
    const r = await wharf('rmi', '-f', short(base.id));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        'Untagged: busybox:latest',
        'Untagged: other:1',
        'Untagged: other:2',
        `Deleted: ${base.id}`,
        `Deleted: ${base.diffIds[0]}`,
        '',
      ].join('\n'),
    );
    expect(await stored([base.id, ...base.blobs])).toEqual([false, false]);
    expect((await wharf('images', '-a', '-q')).stdout).toBe('');
  });

  it('several names: errors collected at the end, exit 1; with -f a missing image alone exits 0', async () => {
    const ids = await withLocalStore(root, async (store) => {
      const b = await makeBase(store, 'docker.io/library/busybox', 'latest');
      return b;
    });
    const r = await wharf('rmi', 'nonexist', 'busybox');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`Untagged: busybox:latest\nDeleted: ${ids}\nDeleted: ${base.diffIds[0]}\n`);
    expect(r.stderr).toBe('Error response from daemon: No such image: nonexist:latest\n');
    const forced = await wharf('rmi', '-f', 'nonexist', 'gone:1');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toBe('');
    expect(forced.stderr).toBe(
      'Error response from daemon: No such image: nonexist:latest\nError response from daemon: No such image: gone:1\n',
    );
  });

  it('--no-prune leaves the untagged parent dangling; images -f dangling=true lists it; image prune -f removes it', async () => {
    const [b, f, s] = await withLocalStore(root, async (store) => {
      const b = await makeBase(store, 'docker.io/library/busybox', 'latest');
      const f = await makeChild(store, b, 'first', 'test_first!\n', {
        tag: { name: 'docker.io/library/commit_test', tag: 'first' },
      });
      const s = await makeChild(store, f, 'second', 'test_second!\n', {
        tag: { name: 'docker.io/library/commit_test', tag: 'second' },
      });
      return [b, f, s];
    });
    first = await describeImage(f as string);
    const secondNow = await describeImage(s as string);
    // -f on the parent's only tag: untagged, but kept quietly (it still has a child).
    const untag = await wharf('rmi', '-f', 'commit_test:first');
    expect(untag.stdout).toBe('Untagged: commit_test:first\n');
    expect((await wharf('images', '-q', '-f', 'dangling=true')).stdout).toBe('');
    const noPrune = await wharf('rmi', '--no-prune', 'commit_test:second');
    expect(noPrune.stdout).toBe(
      `Untagged: commit_test:second\nDeleted: ${s}\nDeleted: ${chains(secondNow.diffIds)[2]}\n`,
    );
    // Now a dangling image: no tag, no child.
    const dangling = await wharf('images', '-f', 'dangling=true');
    expect(dangling.stdout.split('\n')[1]).toMatch(new RegExp(`^<none>\\s+<none>\\s+${short(f as string)}\\s`));
    expect((await wharf('images', '-q')).stdout).toContain(short(f as string));

    const pruned = await wharf('image', 'prune', '-f');
    expect(pruned.stderr).toBe('');
    expect(pruned.stdout).toBe(
      [
        'Deleted Images:',
        `deleted: ${f}`,
        `deleted: ${chains(first.diffIds)[1]}`,
        '',
        'Total reclaimed space: 12B',
        '',
      ].join('\n'),
    );
    expect(await stored([f as string, first.blobs[1] as string])).toEqual([false, false]);
    expect(await stored([b as string])).toEqual([true]);
    // Nothing left to prune.
    expect((await wharf('image', 'prune', '-f')).stdout).toBe('Total reclaimed space: 0B\n');
  });

  it('image prune asks first; "n" cancels quietly; -a removes every unused image', async () => {
    const cancelled = await run(process.execPath, [WHARF_BIN, 'image', 'prune', '-a'], {
      env: { ...process.env, WHARF_ROOT: root },
      input: 'n\n',
    });
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toBe(
      'WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] ',
    );
    expect((await wharf('images', '-q')).stdout).not.toBe('');
    const bad = await wharf('image', 'prune', '-f', '--filter', 'foo=bar');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("Error response from daemon: invalid filter 'foo'\n");
    const all = await wharf('image', 'prune', '-a', '-f');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^Deleted Images:\nuntagged: busybox:latest\n/);
    expect(all.stdout).toMatch(/\n\nTotal reclaimed space: 1\.98\d*MB\n$/);
    expect((await wharf('images', '-a', '-q')).stdout).toBe('');
    const left = await withLocalStore(root, (store) => store.db.selectFrom('layers').select('blob_digest').execute());
    expect(left).toEqual([]);
  });
  it("containers (rows as the runtime records them) block rmi with Docker's messages; prune skips their image", async () => {
    const { img, cid } = await withLocalStore(root, async (store) => {
      const img = await makeBase(store, 'docker.io/library/ubuntu', 'latest');
      const cid = 'a793851e69e1'.padEnd(64, '0');
      await store.db
        .insertInto('containers')
        .values({
          id: cid,
          name: 'commit_test2',
          image_id: img,
          image_ref: 'ubuntu',
          created: new Date().toISOString(),
          config: '{}',
          host_config: '{}',
          status: 'running',
          pid: null,
          monitor_pid: null,
          exit_code: null,
          started_at: null,
          finished_at: null,
          restart_count: 0,
          stopped_by_user: 0,
        })
        .execute();
      return { img, cid };
    });
    const byRef = await wharf('rmi', 'ubuntu');
    expect(byRef.stderr).toBe(
      `Error response from daemon: conflict: unable to remove repository reference "ubuntu" (must force) - container ${short(`sha256:${cid}`)} is using its referenced image ${short(img)}\n`,
    );
    const byId = await wharf('rmi', '-f', short(img));
    expect(byId.stderr).toBe(
      `Error response from daemon: conflict: unable to delete ${short(img)} (cannot be forced) - image is being used by running container ${short(`sha256:${cid}`)}\n`,
    );
    // -f on the reference untags; the image in use stays (now <none>).
    const forced = await wharf('rmi', '-f', 'ubuntu');
    expect(forced.stdout).toBe('Untagged: ubuntu:latest\n');
    expect((await wharf('images', '-q', '--no-trunc')).stdout).toContain(img);
    const pruned = await wharf('image', 'prune', '-a', '-f');
    expect(pruned.stdout).not.toContain(img);
    expect(await stored([img])).toEqual([true]);
    await withLocalStore(root, (store) => store.db.deleteFrom('containers').execute());
  });
});
