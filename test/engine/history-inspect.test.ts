// `wharf history` and `wharf inspect` on images made locally (import-style base, commit-style
// children): rows, IDs up the Parent chain, truncation, -H=false, errors, inspect's JSON.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createImage } from '../../src/engine/new-image.js';
import { recordImage, serializeConfig } from '../../src/engine/record.js';
import { withLocalStore } from '../../src/engine/store.js';
import { digestOf } from '../../src/oci/digest.js';
import { makeBase, makeChild, oneFileTar } from '../support/images.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const short = (id: string) => id.slice(7, 19);
const LONG = 'echo "a command that is far longer than forty-five columns"\t&& true';

interopDescribe('wharf history and inspect', ['busybox'], () => {
  let root: string;
  let base: string;
  let first: string;
  let second: string;
  let long: string;
  let broken: string;
  let baseDiffId: string;
  const wharf = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, WHARF_ROOT: root } });

  beforeAll(async () => {
    root = await tmpDir('wharf-history-');
    await withLocalStore(root, async (store) => {
      // Created at the epoch: history shows N/A for such dates.
      base = await makeBase(store, 'docker.io/library/busybox', 'latest', new Date(0));
      first = await makeChild(store, base, 'first', 'test_first!\n', {
        tag: { name: 'docker.io/library/commit_test', tag: 'first' },
        comment: 'my first commit',
        created: new Date('2024-05-06T07:08:09.120Z'),
      });
      second = await makeChild(store, first, 'second', 'test_second!\n', {
        tag: { name: 'docker.io/library/commit_test', tag: 'second' },
        comment: 'my second commit',
        created: new Date('2024-05-06T08:00:00Z'),
      });
      long = await createImage(store, {
        parent: base,
        layer: oneFileTar('long', 'x'),
        config: { Cmd: ['/bin/sh'] },
        history: { created_by: LONG },
        os: 'linux',
        architecture: 'amd64',
        tag: { name: 'docker.io/library/long', tag: 'latest' },
      });
      const layer = await store.db
        .selectFrom('image_layers')
        .selectAll()
        .where('image_id', '=', base)
        .executeTakeFirstOrThrow();
      baseDiffId = layer.diff_id;
      // A config whose history claims two layers over one diff ID.
      const bytes = serializeConfig({
        architecture: 'amd64',
        config: {},
        created: '2024-01-01T00:00:00Z',
        history: [{ created: '2024-01-01T00:00:00Z' }, { created: '2024-01-01T00:00:00Z' }],
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.diff_id] },
      });
      broken = digestOf(bytes);
      await store.content.put(broken, bytes);
      await store.db.transaction().execute(async (tx) => {
        await recordImage(tx, {
          id: broken,
          created: '2024-01-01T00:00:00Z',
          os: 'linux',
          architecture: 'amd64',
          size: 1,
          layers: [{ diffId: layer.diff_id, blobDigest: layer.blob_digest }],
        });
      });
    });
  }, 60_000);

  afterAll(async () => {
    if (root) await removeTmpDir(root);
  });

  it('history: newest first, IDs up the Parent chain, N/A before 2000, docker table', async () => {
    const r = await wharf('history', 'commit_test:second');
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    // CREATED is as wide as `2 years ago` + 3.
    const age = lines[1]?.slice(15).match(/^\d+ \w+ ago/)?.[0] ?? '';
    const w = Math.max(10, age.length + 3);
    expect(lines[0]).toBe(`IMAGE          ${'CREATED'.padEnd(w)}CREATED BY   SIZE      COMMENT`);
    expect(lines[1]).toMatch(
      new RegExp(`^${short(second)}   \\d+ (months|years) ago   /bin/sh      13B       my second commit$`),
    );
    expect(lines[2]).toMatch(
      new RegExp(`^${short(first)}   \\d+ (months|years) ago   /bin/sh      12B       my first commit$`),
    );
    expect(lines[3]).toBe(`${short(base)}   ${'N/A'.padEnd(w)}${''.padEnd(13)}1.98MB    Imported from -`);
    expect(lines).toHaveLength(5);
  });

  it('history -H=false: CREATED AT in RFC 3339 and sizes in bytes; --no-trunc, -q, json', async () => {
    const r = await wharf('history', '-H=false', '--no-trunc', 'commit_test:second');
    const rows = r.stdout.split('\n').map((l) => l.split(/ {3,}/));
    expect(rows[0]).toEqual(['IMAGE', 'CREATED AT', 'CREATED BY', 'SIZE', 'COMMENT']);
    expect(rows[1]).toEqual([second, '2024-05-06T08:00:00Z', '/bin/sh', '13', 'my second commit']);
    expect(rows[2]).toEqual([first, '2024-05-06T07:08:09Z', '/bin/sh', '12', 'my first commit']);
    // The base: N/A before 2000 and no CREATED BY (the empty column folds in the split).
    expect(rows[3]).toEqual([base, 'N/A', expect.stringMatching(/^\d{7}$/), 'Imported from -']);
    expect((await wharf('history', '--human=false', 'commit_test:first')).stdout).toContain('CREATED AT');
    expect((await wharf('history', '-q', 'commit_test:second')).stdout).toBe(
      `${short(second)}\n${short(first)}\n${short(base)}\n`,
    );
    const json = await wharf('history', '--format', 'json', 'commit_test:first');
    const first0 = JSON.parse(json.stdout.split('\n')[0] as string) as Record<string, string>;
    expect(Object.keys(first0)).toEqual(['Comment', 'CreatedAt', 'CreatedBy', 'CreatedSince', 'ID', 'Size']);
    expect(first0).toMatchObject({ ID: short(first), Size: '12B', CreatedBy: '/bin/sh', Comment: 'my first commit' });
  });

  it('history: CREATED BY has tabs as spaces and is cut to 45 columns with …', async () => {
    const r = await wharf('history', '--format', '{{.CreatedBy}}|', short(long));
    const expected = LONG.replace(/\t/g, ' ');
    expect(r.stdout.split('\n')[0]).toBe(`${expected.slice(0, 44)}…|`);
    const full = await wharf('history', '--no-trunc', '--format', '{{.CreatedBy}}', 'long');
    expect(full.stdout.split('\n')[0]).toBe(expected);
  });

  it('history: more non-empty history entries than layers is an error', async () => {
    const r = await wharf('history', short(broken));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error response from daemon: too many non-empty layers in History section\n');
    const missing = await wharf('history', 'nope');
    expect(missing.stderr).toBe('Error response from daemon: No such image: nope:latest\n');
  });

  it("inspect: Docker's fields in Docker's order (API 1.45+), 4-space JSON array", async () => {
    const r = await wharf('inspect', 'commit_test:second');
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith('[\n    {\n        "Id": ')).toBe(true);
    const [doc] = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(Object.keys(doc ?? {})).toEqual([
      'Id',
      'RepoTags',
      'RepoDigests',
      'Parent',
      'Comment',
      'Created',
      'Author',
      'Config',
      'Architecture',
      'Os',
      'Size',
      'GraphDriver',
      'RootFS',
      'Metadata',
    ]);
    expect(doc).toMatchObject({
      Id: second,
      RepoTags: ['commit_test:second'],
      RepoDigests: [],
      Parent: first,
      Comment: 'my second commit',
      Created: '2024-05-06T08:00:00Z',
      Author: 'chansoo',
      Architecture: 'amd64',
      Os: 'linux',
      GraphDriver: { Data: null, Name: 'wharf' },
    });
    const rootfs = doc?.RootFS as { Type: string; Layers: string[] };
    expect(rootfs.Type).toBe('layers');
    expect(rootfs.Layers).toHaveLength(3);
    expect(rootfs.Layers[0]).toBe(baseDiffId);
    const config = doc?.Config as Record<string, unknown>;
    expect(Object.keys(config).slice(0, 3)).toEqual(['Hostname', 'Domainname', 'User']);
    expect(config.Cmd).toEqual(['/bin/sh']);
    expect(config.Env).toBeNull();
    expect((doc?.Metadata as { LastTagTime: string } | undefined)?.LastTagTime).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    // An imported base: no Parent, no Author; its comment comes from the history entry.
    const [b] = JSON.parse((await wharf('image', 'inspect', 'busybox')).stdout) as Record<string, unknown>[];
    expect(b).not.toHaveProperty('Parent');
    expect(b).not.toHaveProperty('Author');
    expect(b?.Comment).toBe('Imported from -');
    expect(b?.Created).toBe('1970-01-01T00:00:00Z');
  });

  it('inspect --format and the errors of inspect and image inspect', async () => {
    const f = await wharf(
      'inspect',
      '--format',
      '{{.Id}} {{.Config.Cmd}} {{json .RepoTags}} {{index .RootFS.Layers 0}}',
      'busybox',
    );
    expect(f.stdout).toBe(`${base} [/bin/sh] ["busybox:latest"] ${baseDiffId}\n`);
    const generic = await wharf('inspect', 'nonexist');
    expect(generic.code).toBe(1);
    expect(generic.stdout).toBe('[]\n');
    expect(generic.stderr).toBe('Error: No such object: nonexist\n');
    const image = await wharf('image', 'inspect', 'busybox', 'nonexist');
    expect(image.code).toBe(1);
    expect((JSON.parse(image.stdout) as { Id: string }[]).map((d) => d.Id)).toEqual([base]);
    expect(image.stderr).toBe('Error response from daemon: No such image: nonexist:latest\n');
    const bad = await wharf('inspect', '--format', '{{.Nope.Deeper}}', 'busybox');
    expect(bad.stdout).toBe('<no value>\n');
  });
});
