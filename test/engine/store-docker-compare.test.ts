// The same images in Docker and in Wharf, side by side: docker builds them (import + commit),
// pushes them to a Wharf server, then both pull them back (so neither side knows local parents)
// and images, history, inspect, system df and rmi must print the same.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { commitLayer, type Dockerd, makeBusyboxImage, startDockerd } from '../support/dockerd.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { interopDescribe, removeTmpDir, runOk, tmpDir } from '../support/tools.js';

const TIMEOUT = 240_000;

interopDescribe('local images: Wharf and the Docker engine agree', ['dockerd', 'docker', 'busybox'], () => {
  let d: Dockerd;
  let server: WharfProcess;
  let root: string;
  let baseRef: string;
  let appRef: string;
  let baseDigest: string;
  const opts = { timeoutMs: TIMEOUT };
  const wharf = async (...args: string[]) =>
    (await runOk(process.execPath, [WHARF_BIN, ...args], { ...opts, env: { ...process.env, WHARF_ROOT: root } }))
      .stdout;
  const docker = (...args: string[]) => d.dockerOk(args, opts);
  /**
   * Both sides' output of the same command. Docker's layer size depends on its storage driver:
   * Wharf follows overlay2 (symlink targets count); on another driver sizes are masked.
   */
  const both = async (...args: string[]) => {
    const [ours, theirs] = await Promise.all([wharf(...args), docker(...args)]);
    if (d.storageDriver === 'overlay2') return { ours, theirs };
    const mask = (s: string) => s.replace(/\b\d+(\.\d+)?(B|kB|MB)?\b/g, 'N');
    return { ours: mask(ours), theirs: mask(theirs) };
  };

  /** Relative ages can differ across a second boundary between the two runs (and widen their column). */
  const maskAges = (s: string) => s.replace(/(\d+|About an?|Less than a) \w+ ago/g, 'AGO').replace(/ {3,}/g, ' | ');

  beforeAll(async () => {
    [d, server, root] = await Promise.all([startDockerd(), startWharf(), tmpDir('wharf-compare-')]);
    baseRef = `${server.host}/cmp/base:1`;
    appRef = `${server.host}/cmp/app:1`;
    await makeBusyboxImage(d, 'cmp-base:1');
    // Docker orders images by Created in whole seconds: a second apart, the order is fixed.
    await new Promise((r) => setTimeout(r, 1100));
    await commitLayer(d, 'cmp-base:1', 'cmp-app:1', 'etc/app/first.txt', 'test_first!\n');
    for (const [local, remote] of [
      ['cmp-base:1', baseRef],
      ['cmp-app:1', appRef],
    ] as const) {
      await docker('tag', local, remote);
      const pushed = await docker('push', remote);
      if (remote === baseRef) baseDigest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1] ?? '';
    }
    // Docker forgets the images and pulls them back: no local parents on either side.
    await docker('rmi', 'cmp-app:1', appRef, 'cmp-base:1', baseRef);
    expect(await docker('images', '-a', '-q')).toBe('');
    for (const ref of [baseRef, appRef]) {
      await docker('pull', ref);
      await wharf('pull', ref);
    }
  }, TIMEOUT);

  afterAll(async () => {
    await Promise.all([d?.stop(), server?.cleanup(), root ? removeTmpDir(root) : undefined]);
  }, TIMEOUT);

  it(
    'images: same rows, IDs, sizes and digests',
    async () => {
      const fields = ['images', '--digests', '--format', '{{.Repository}}|{{.Tag}}|{{.Digest}}|{{.ID}}|{{.Size}}'];
      const { ours, theirs } = await both(...fields);
      expect(theirs.split('\n')).toHaveLength(3);
      expect(ours).toBe(theirs);
      const json = await both('images', '--no-trunc', '--format', '{{.ID}} {{.VirtualSize}}');
      expect(json.ours).toBe(json.theirs);
      // The default table, with the relative CREATED column taken out.
      const table = await both('images');
      expect(maskAges(table.ours)).toBe(maskAges(table.theirs));
    },
    TIMEOUT,
  );

  it(
    'history: same rows (pulled images show <missing> below the top), byte for byte with -H=false',
    async () => {
      for (const ref of [baseRef, appRef]) {
        const exact = await both('history', '-H=false', '--no-trunc', ref);
        expect(exact.ours).toBe(exact.theirs);
        const table = await both('history', '--format', 'table {{.ID}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', ref);
        expect(table.ours).toBe(table.theirs);
      }
      expect((await wharf('history', '-q', appRef)).split('\n')[1]).toBe('<missing>');
    },
    TIMEOUT,
  );

  it(
    'inspect: same Id, RepoTags, RepoDigests, Created, Config, Architecture, Os, Size, RootFS',
    async () => {
      for (const ref of [baseRef, appRef]) {
        const ours = JSON.parse(await wharf('image', 'inspect', ref)) as Record<string, unknown>[];
        const theirs = JSON.parse(await docker('image', 'inspect', ref)) as Record<string, unknown>[];
        for (const key of [
          'Id',
          'RepoTags',
          'RepoDigests',
          'Created',
          'Config',
          'Architecture',
          'Os',
          'Size',
          'RootFS',
        ]) {
          expect({ [key]: ours[0]?.[key] }).toEqual({ [key]: theirs[0]?.[key] });
        }
        // The JSON text of Config too: same key order.
        const cfg = await both('inspect', '--format', '{{json .Config}}', ref);
        expect(cfg.ours).toBe(cfg.theirs);
      }
    },
    TIMEOUT,
  );

  it(
    'system df: the same table (the shared base layer counted once), and the same -v image rows',
    async () => {
      const df = await both('system', 'df');
      expect(df.ours).toBe(df.theirs);
      const verbose = await both('system', 'df', '-v');
      expect(maskAges(verbose.ours)).toBe(maskAges(verbose.theirs));
    },
    TIMEOUT,
  );

  it(
    'rmi of a pulled image: the tag, then the digest reference of its repository, the image and its own layer',
    async () => {
      const { ours, theirs } = await both('rmi', appRef);
      expect(ours).toMatch(/^Untagged: .*\nUntagged: .*@sha256:[0-9a-f]{64}\nDeleted: sha256:/);
      expect(ours).toBe(theirs);
      const rest = await both('rmi', baseRef);
      expect(rest.ours).toBe(rest.theirs);
      expect(await wharf('images', '-a', '-q')).toBe('');
      // Nothing is left in the content store: configs, layers and manifests went with the images.
      const left = await runOk('find', [`${root}/content`, '-name', 'data', '-type', 'f'], opts);
      expect(left.stdout).toBe('');
    },
    TIMEOUT,
  );
  it(
    'an image pulled by digest only: listed as <none> under its name, dangling, removed by its digest reference',
    async () => {
      const byDigest = `${server.host}/cmp/base@${baseDigest}`;
      await docker('pull', byDigest);
      await wharf('pull', byDigest);
      for (const args of [
        ['images', `${server.host}/cmp/base`],
        ['images', '--digests', '--filter', 'dangling=true'],
      ]) {
        const { ours, theirs } = await both(...args);
        expect(maskAges(ours)).toBe(maskAges(theirs));
      }
      const rmi = await both('rmi', byDigest);
      expect(rmi.ours).toBe(`Untagged: ${byDigest}\n${rmi.ours.split('\n').slice(1).join('\n')}`);
      expect(rmi.ours).toBe(rmi.theirs);
    },
    TIMEOUT,
  );
});
