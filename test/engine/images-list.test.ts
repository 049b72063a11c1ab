// `wharf images`: which images appear (-a, dangling), filters (reference, before/since, until,
// label, dangling) and formats (Go templates, table, json), with Docker's error wording.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withLocalStore } from '../../src/engine/store.js';
import { makeBase, makeChild } from '../support/images.js';
import { WHARF_BIN } from '../support/server.js';
import { interopDescribe, type RunResult, removeTmpDir, run, tmpDir } from '../support/tools.js';

const short = (id: string) => id.slice(7, 19);
const lib = (name: string, tag: string) => ({ name: `docker.io/library/${name}`, tag });

interopDescribe('wharf images: filters and formats', ['busybox'], () => {
  let root: string;
  let ids: Record<'base' | 'app1' | 'app2' | 'tool' | 'mid' | 'top' | 'dangling', string>;
  const wharf = (...args: string[]): Promise<RunResult> =>
    run(process.execPath, [WHARF_BIN, ...args], { env: { ...process.env, WHARF_ROOT: root } });
  /** The REPOSITORY:TAG of each row, in order. */
  const refs = async (...args: string[]) => {
    const r = await wharf('images', '--format', '{{.Repository}}:{{.Tag}}', ...args);
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter((l) => l !== '');
  };

  beforeAll(async () => {
    root = await tmpDir('wharf-images-');
    ids = await withLocalStore(root, async (store) => {
      const at = (y: number, m = 1) => new Date(Date.UTC(y, m - 1, 1));
      const base = await makeBase(store, 'docker.io/library/busybox', 'latest', at(2020));
      const app1 = await makeChild(store, base, 'a', '1', {
        tag: lib('app', '1'),
        labels: { env: 'prod', team: 'a' },
        created: at(2021),
      });
      const app2 = await makeChild(store, base, 'a', '2', {
        tag: lib('app', '2'),
        labels: { env: 'dev' },
        created: at(2022),
      });
      const tool = await makeChild(store, base, 't', 't', {
        tag: { name: 'docker.io/myorg/tool', tag: 'latest' },
        created: at(2023),
      });
      const mid = await makeChild(store, base, 'm', 'm', { created: at(2023, 6) });
      const top = await makeChild(store, mid, 'top', 'top', { tag: lib('top', '1'), created: at(2023, 7) });
      const dangling = await makeChild(store, base, 'd', 'd', { created: at(2024) });
      return { base, app1, app2, tool, mid, top, dangling };
    });
    await wharf('tag', 'busybox', '127.0.0.1:5000/ns/img:1');
  }, 60_000);

  afterAll(async () => {
    if (root) await removeTmpDir(root);
  });

  it('lists tagged and dangling images newest first, hiding untagged parents unless -a', async () => {
    expect(await refs()).toEqual([
      '<none>:<none>',
      'top:1',
      'myorg/tool:latest',
      'app:2',
      'app:1',
      '127.0.0.1:5000/ns/img:1',
      'busybox:latest',
    ]);
    const all = await wharf('images', '-a', '-q');
    expect(all.stdout.split('\n').filter((l) => l !== '')).toEqual(
      [ids.dangling, ids.top, ids.mid, ids.tool, ids.app2, ids.app1, ids.base, ids.base].map(short),
    );
    const table = await wharf('images', '-a');
    // Column width: the longest cell (`127.0.0.1:5000/ns/img`, 21) + 3.
    expect(table.stdout.split('\n')[0]).toBe(`${'REPOSITORY'.padEnd(24)}TAG       IMAGE ID       CREATED       SIZE`);
    expect(table.stdout).toMatch(
      new RegExp(`\\n<none>\\s+<none>\\s+${short(ids.mid)}\\s+\\d+ years ago\\s+1\\.98MB\\n`),
    );
  });

  it('dangling=true: untagged images without children; dangling=false: tagged ones', async () => {
    expect((await wharf('images', '-q', '--filter', 'dangling=true')).stdout).toBe(`${short(ids.dangling)}\n`);
    expect(await refs('-a', '--filter', 'dangling=false')).not.toContain('<none>:<none>');
    const bad = await wharf('images', '--filter', 'dangling=maybe');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("Error response from daemon: invalid filter 'dangling=maybe'\n");
  });

  it('reference= globs: familiar and full names, * does not cross /, several are ORed', async () => {
    expect(await refs('--filter', 'reference=app')).toEqual(['app:2', 'app:1']);
    expect(await refs('--filter', 'reference=app:1')).toEqual(['app:1']);
    expect(await refs('--filter', 'reference=*:latest')).toEqual(['busybox:latest']);
    expect(await refs('--filter', 'reference=*/*:latest')).toEqual(['myorg/tool:latest']);
    expect(await refs('--filter', 'reference=docker.io/library/app:1')).toEqual(['app:1']);
    expect(await refs('--filter', 'reference=top', '--filter', 'reference=busybox')).toEqual([
      'top:1',
      'busybox:latest',
    ]);
    // The positional argument is a reference filter too; only matching tags of an image are listed.
    expect(await refs('busybox')).toEqual(['busybox:latest']);
    expect(await refs('127.0.0.1:5000/ns/*')).toEqual(['127.0.0.1:5000/ns/img:1']);
  });

  it('before= and since= an image, until= a time, label= keys and values (ANDed)', async () => {
    expect(await refs('--filter', 'before=app:2')).toEqual(['app:1', '127.0.0.1:5000/ns/img:1', 'busybox:latest']);
    expect(await refs('--filter', `since=${short(ids.tool)}`)).toEqual(['<none>:<none>', 'top:1']);
    expect(await refs('--filter', 'until=2021-06-01T00:00:00Z')).toEqual([
      'app:1',
      '127.0.0.1:5000/ns/img:1',
      'busybox:latest',
    ]);
    expect(await refs('--filter', 'label=env')).toEqual(['app:2', 'app:1']);
    expect(await refs('--filter', 'label=env=prod')).toEqual(['app:1']);
    expect(await refs('--filter', 'label=env', '--filter', 'label=team=a')).toEqual(['app:1']);
    expect(await refs('--filter', 'label=env', '--filter', 'reference=*:2')).toEqual(['app:2']);
    const missing = await wharf('images', '--filter', 'before=nope:1');
    expect(missing.stderr).toBe('Error response from daemon: No such image: nope:1\n');
  });

  it('unknown filters and malformed ones are refused', async () => {
    const r = await wharf('images', '--filter', 'foo=bar');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("Error response from daemon: invalid filter 'foo'\n");
    const malformed = await wharf('images', '--filter', 'dangling');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('bad format of filter (expected name=value)');
  });

  it('--format json: one object per row, every value a string, Go escaping', async () => {
    const r = await wharf('images', '--format', 'json', 'app:1');
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('"Digest":"\\u003cnone\\u003e"');
    const row = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(Object.keys(row)).toEqual([
      'Containers',
      'CreatedAt',
      'CreatedSince',
      'Digest',
      'ID',
      'Repository',
      'SharedSize',
      'Size',
      'Tag',
      'UniqueSize',
      'VirtualSize',
    ]);
    expect(Object.values(row).every((v) => typeof v === 'string')).toBe(true);
    expect(row).toMatchObject({ ID: short(ids.app1), Repository: 'app', Tag: '1', Size: '1.98MB', Containers: 'N/A' });
    expect(row.CreatedAt).toMatch(/^2021-01-01 \d\d:00:00 [+-]\d{4} \S+$/);
  });

  it('table templates: headers from the fields, \\t as tab, --digests appended, -q wins', async () => {
    const r = await wharf('images', '--format', 'table {{.Repository}}\\t{{.ID}}', 'app');
    expect(r.stdout).toBe(`REPOSITORY   IMAGE ID\napp          ${short(ids.app2)}\napp          ${short(ids.app1)}\n`);
    const digests = await wharf('images', '--digests', '--format', 'table {{.Tag}}', 'app:1');
    expect(digests.stdout).toBe('TAG       DIGEST\n1         <none>\n');
    const plain = await wharf('images', '--format', '{{.ID}} {{if .Tag}}{{.Tag}}{{end}} {{len .Repository}}', 'app:1');
    expect(plain.stdout).toBe(`${short(ids.app1)} 1 3\n`);
    const quiet = await wharf('images', '-q', '--format', '{{.Repository}}', 'app:1');
    expect(quiet.stdout).toBe(`${short(ids.app1)}\n`);
    const broken = await wharf('images', '--format', '{{.Repository', 'app:1');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('template parsing error');
  });
  it('system df: every layer once in SIZE, all reclaimable; -v splits shared and unique sizes', async () => {
    const base = Number((await wharf('image', 'inspect', '--format', '{{.Size}}', 'busybox')).stdout.trim());
    // Six listed images (the untagged parent is not); their own layers are 1 byte each, top's 3.
    const total = base + 1 + 1 + 1 + 1 + 3 + 1;
    const human = (n: number) => `${(n / 1e6).toPrecision(4)}MB`;
    const r = await wharf('system', 'df');
    expect(r.stdout).toBe(
      [
        'TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE',
        `Images          6         0         ${human(total)}   ${human(total)} (100%)`,
        'Containers      0         0         0B        0B',
        'Local Volumes   0         0         0B        0B',
        'Build Cache     0         0         0B        0B',
        '',
      ].join('\n'),
    );
    const v = await wharf('system', 'df', '-v', '--root', root);
    const rows = v.stdout.split('\n').map((l) => l.split(/ {3,}/));
    expect(rows[2]).toEqual([
      'REPOSITORY',
      'TAG',
      'IMAGE ID',
      'CREATED',
      'SIZE',
      'SHARED SIZE',
      'UNIQUE SIZE',
      'CONTAINERS',
    ]);
    const row = (id: string) => rows.find((cells) => cells[2] === short(id));
    expect(row(ids.app1)?.slice(5)).toEqual([human(base), '1B', '0']);
    // top shares the base and its untagged parent's layer; only its own 3 bytes are unique.
    expect(row(ids.top)?.slice(5)).toEqual([human(base + 1), '3B', '0']);
    expect(row(ids.base)?.slice(0, 2)).toEqual(['127.0.0.1:5000/ns/img', '1']);
    expect(row(ids.dangling)?.slice(0, 2)).toEqual(['<none>', '<none>']);
  });
});
