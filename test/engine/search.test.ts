// `wharf search` (hub-and-engine.md §1.1–1.4): against a real `wharf serve`, and against a small
// loopback index that answers with descriptions, stars and official marks (which Wharf's server
// does not keep yet) to check the rendering: truncation, newlines, wide characters, [OK], filters.

import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ellipsis } from '../../src/cli/search-command.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { removeTmpDir, run, tmpDir } from '../support/tools.js';

let home: string;

beforeAll(async () => {
  home = await tmpDir('wharf-search-cli-');
});
afterAll(async () => {
  if (home) await removeTmpDir(home);
});

/** `wharf search ARGS` with an empty config of its own (no Docker config either). */
function search(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, [WHARF_BIN, 'search', ...args], {
    env: {
      ...process.env,
      HOME: home,
      WHARF_CONFIG_DIR: join(home, 'wharf'),
      DOCKER_CONFIG: join(home, 'docker'),
      ...env,
    },
  });
}

/** Pushes a config-only image to `repo` over HTTP, as any client would. */
async function pushTiny(server: WharfProcess, repo: string): Promise<void> {
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const digest = digestOf(config);
  const blob = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: config,
  });
  expect(blob.status).toBe(201);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length },
    layers: [],
  });
  const put = await fetch(`${server.url}/v2/${repo}/manifests/1`, {
    method: 'PUT',
    headers: { 'content-type': MediaType.ociManifest },
    body: manifest,
  });
  expect(put.status).toBe(201);
}

describe('wharf search against wharf serve', () => {
  let server: WharfProcess;

  beforeAll(async () => {
    server = await startWharf();
    for (const repo of ['tools/busybox-extra', 'busybox', 'mybusybox', 'alpine']) await pushTiny(server, repo);
  });
  afterAll(() => server?.cleanup());

  it("prints Docker's table in the index's order (the hub's ranking: exact name, then a name part starting with the term)", async () => {
    const out = await search([`${server.host}/busybox`]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    // tabwriter: columns as wide as the longest cell + 3 (at least 10); an empty last cell
    // still pads the one before it, as docker's output does.
    expect(out.stdout).toBe(
      [
        'NAME                  DESCRIPTION   STARS     OFFICIAL',
        'busybox                             0         ',
        'tools/busybox-extra                 0         ',
        'mybusybox                           0         ',
        '',
      ].join('\n'),
    );
  });

  it('--limit caps the results; 0 means 25; outside 1..100 is the daemon error', async () => {
    const two = await search(['--limit', '2', `${server.host}/busybox`]);
    expect(two.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect((await search(['--limit', '0', `${server.host}/busybox`])).stdout.trimEnd().split('\n')).toHaveLength(4);
    for (const limit of ['101', '-1']) {
      const bad = await search(['--limit', limit, `${server.host}/busybox`]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toBe(`Error response from daemon: limit ${limit} is outside the range of [1, 100]\n`);
      expect(bad.stdout).toBe('');
    }
    const notANumber = await search(['--limit', 'ten', `${server.host}/busybox`]);
    expect(notANumber.code).toBe(125);
    expect(notANumber.stderr).toContain(
      'invalid argument "ten" for "--limit" flag: strconv.ParseInt: parsing "ten": invalid syntax',
    );
  });

  it('--format json prints one object a line (string values); templates work; a bad template is an error', async () => {
    const json = await search(['--format', 'json', `${server.host}/busybox`]);
    expect(json.stdout.trimEnd().split('\n')).toEqual(
      ['busybox', 'tools/busybox-extra', 'mybusybox'].map((name) =>
        JSON.stringify({ Description: '', IsOfficial: 'false', Name: name, StarCount: '0' }),
      ),
    );
    const names = await search(['--format', '{{.Name}}', `${server.host}/box`]);
    expect(names.stdout, names.stderr).toBe('busybox\nmybusybox\ntools/busybox-extra\n');
    const table = await search(['--format', 'table {{.Name}}\t{{.StarCount}}', `${server.host}/alpine`]);
    expect(table.stdout).toBe('NAME      STARS\nalpine    0\n');
    const bad = await search(['--format', '{{.Name', `${server.host}/alpine`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('template parsing error: template: :1: unclosed action\n');
  });

  it('filters: unknown keys and bad values fail, is-automated warns, official/stars filter after the fetch', async () => {
    const header = 'NAME      DESCRIPTION   STARS     OFFICIAL\n';
    expect((await search(['-f', 'is-official=true', `${server.host}/busybox`])).stdout).toBe(header);
    expect((await search(['-f', 'stars=1', `${server.host}/busybox`])).stdout).toBe(header);
    expect((await search(['-f', 'is-official=false', `${server.host}/busybox`])).stdout.split('\n')).toHaveLength(5);
    expect((await search(['--filter', 'stars=0', `${server.host}/busybox`])).stdout.split('\n')).toHaveLength(5);

    const cases: [string, string][] = [
      ['color=blue', "invalid filter 'color'"],
      ['stars=abc', `invalid filter 'stars=abc': strconv.Atoi: parsing "abc": invalid syntax`],
      ['is-official=maybe', "invalid filter 'is-official=maybe'"],
    ];
    for (const [filter, message] of cases) {
      const out = await search(['-f', filter, `${server.host}/busybox`]);
      expect(out.code, filter).toBe(1);
      expect(out.stderr).toBe(`Error response from daemon: ${message}\n`);
    }
    const noEquals = await search(['-f', 'stars', `${server.host}/busybox`]);
    expect(noEquals.code).toBe(125);
    expect(noEquals.stderr).toContain(
      'invalid argument "stars" for "-f, --filter" flag: bad format of filter (expected name=value)',
    );

    const automated = await search(['-f', 'is-automated=true', `${server.host}/busybox`]);
    expect(automated.code).toBe(0);
    expect(automated.stderr).toBe(
      'WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.\n',
    );
    expect(automated.stdout).toBe(header);
  });

  it('an index that cannot be reached, and a term with a scheme, are errors', async () => {
    const down = await search(['127.0.0.1:1/busybox']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /^Error response from daemon: invalid registry endpoint "http:\/\/127\.0\.0\.1:1\/v1\/"\. HTTP attempt: Get "http:\/\/127\.0\.0\.1:1\/v1\/search\?q=busybox&n=25": .*ECONNREFUSED/,
    );
    const scheme = await search([`http://${server.host}/busybox`]);
    expect(scheme.code).toBe(1);
    expect(scheme.stderr).toBe(
      `Error response from daemon: invalid repository name: repository name (http://${server.host}/busybox) should not have a scheme\n`,
    );
  });
});

describe('wharf search rendering (a loopback index with descriptions, stars and official marks)', () => {
  let index: Server;
  let host: string;
  const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
  const LONG = 'A minimal image based on Alpine Linux with a complete package index';
  const results = [
    { name: 'second', description: 'line one\nline two\r\nthree', star_count: 12, is_official: false },
    { name: 'first', description: LONG, star_count: 3037, is_official: true, is_automated: true },
    { name: 'wide', description: '日本語の説明文はここにありますとても長い説明文ですね本当に長い', star_count: 5 },
    { name: 'exact', description: 'x'.repeat(45), star_count: 0, is_official: false },
  ];

  beforeAll(async () => {
    index = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ query: 'x', num_results: results.length, results }));
    });
    await new Promise<void>((resolve) => index.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(index.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => index.close(() => resolve())));

  it('truncates descriptions to 45 columns with …, turns newlines into spaces, marks official, keeps the order', async () => {
    const out = await search([`${host}/library/thing`]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME {6}DESCRIPTION {37}STARS {5}OFFICIAL$/);
    expect(lines.slice(1, 5).map((l) => l.slice(0, 10).trim())).toEqual(['second', 'first', 'wide', 'exact']);
    expect(lines[1]).toContain('line one line two  three');
    expect(lines[2]).toContain(`${LONG.slice(0, 44)}…   3037      [OK]`);
    expect(lines[4]).toContain(`${'x'.repeat(45)}   0`);
    // The request: the query as given (library/ is kept for a registry that is not Docker Hub),
    // the default limit, and Docker's X-Docker-Token header.
    const last = seen[seen.length - 1];
    expect(last?.url).toBe('/v1/search?q=library%2Fthing&n=25');
    expect(last?.headers['x-docker-token']).toBe('true');
    expect(last?.headers.authorization).toBeUndefined();
  });

  it('--no-trunc prints whole descriptions; the filters apply to stars and the official mark', async () => {
    const full = await search(['--no-trunc', `${host}/x`]);
    expect(full.stdout).toContain(LONG);
    const official = await search(['-f', 'is-official=true', '--format', '{{.Name}}', `${host}/x`]);
    expect(official.stdout).toBe('first\n');
    const stars = await search([
      '-f',
      'stars=10',
      '-f',
      'stars=6',
      '--format',
      '{{.Name}} {{.StarCount}}',
      `${host}/x`,
    ]);
    expect(stars.stdout).toBe('second 12\nfirst 3037\n');
    const json = await search(['-f', 'is-official=true', '--format', 'json', `${host}/x`]);
    expect(JSON.parse(json.stdout)).toEqual({
      Description: `${LONG.slice(0, 44)}…`,
      IsOfficial: 'true',
      Name: 'first',
      StarCount: '3037',
    });
  });

  it('stored credentials for the index go as Basic with the search', async () => {
    const dir = join(home, 'with-creds');
    await mkdir(dir, { recursive: true });
    const auth = Buffer.from('alice:s3cret').toString('base64');
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
    const out = await search([`${host}/x`], { WHARF_CONFIG_DIR: dir });
    expect(out.code, out.stderr).toBe(0);
    expect(seen[seen.length - 1]?.headers.authorization).toBe(`Basic ${auth}`);
  });

  it("ellipsis counts East-Asian wide characters as 2 columns, as docker's formatter does", () => {
    expect(ellipsis('abc', 45)).toBe('abc');
    expect(ellipsis('a'.repeat(46), 45)).toBe(`${'a'.repeat(44)}…`);
    const wide = '日本語'.repeat(10); // 60 columns
    expect(ellipsis(wide, 45)).toBe(`${[...wide].slice(0, 22).join('')}…`);
    expect(ellipsis('日本語'.repeat(7), 45)).toBe('日本語'.repeat(7)); // 42 columns: fits
  });
});
