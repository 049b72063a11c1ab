// The private-repository limit of a namespace's plan holds however a repository is created
// (issue 10): checked where the registry creates the row on the first push, in the same
// transaction, not only when /token grants push. Real HTTP pushes with bearer tokens from /token.
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import type { WharfServer } from '../../src/server/app.js';
import { hubServer } from '../support/server.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1' };
const PLAN_MESSAGE = 'the plan of alice allows 1 private repository';
const basic = (user: keyof typeof PASSWORDS) => `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`;

let server: WharfServer;
let base: string;

beforeEach(async () => {
  server = await hubServer(PASSWORDS);
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
});
afterEach(() => server.close());

/** A registry token for push on every repository named, asked for at once (one scope each). */
async function pushToken(repositories: string[]): Promise<{ token: string; granted: string[] }> {
  const scopes = repositories.map((r) => `scope=${encodeURIComponent(`repository:${r}:pull,push`)}`).join('&');
  const res = await fetch(`${base}/token?service=wharf&${scopes}`, { headers: { authorization: basic('alice') } });
  expect(res.status).toBe(200);
  const { token } = (await res.json()) as { token: string };
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
    access: { name: string; actions: string[] }[];
  };
  return { token, granted: claims.access.filter((a) => a.actions.includes('push')).map((a) => a.name) };
}

async function hubApi(method: string, path: string, body?: unknown): Promise<number> {
  const res = await fetch(`${base}/api${path}`, {
    method,
    headers: { authorization: basic('alice'), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  await res.arrayBuffer();
  return res.status;
}

interface PushResult {
  status: number;
  code?: string;
  message?: string;
}

/** A config blob, a layer and a manifest, as docker push sends them; stops at the first refusal. */
async function push(token: string, repo: string): Promise<PushResult> {
  const auth = { authorization: `Bearer ${token}` };
  const refused = async (res: Response): Promise<PushResult> => {
    const body = (await res.json()) as { errors: { code: string; message: string }[] };
    return { status: res.status, code: body.errors[0]?.code, message: body.errors[0]?.message };
  };
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = `layer of ${repo}`;
  for (const data of [config, layer]) {
    const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digestOf(data)}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: data,
    });
    if (res.status !== 201) return refused(res);
    await res.arrayBuffer();
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
  });
  const res = await fetch(`${base}/v2/${repo}/manifests/1`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': MediaType.ociManifest },
    body: manifest,
  });
  if (res.status !== 201) return refused(res);
  await res.arrayBuffer();
  return { status: 201 };
}

async function repositoriesOf(namespace: string): Promise<{ name: string; visibility: string }[]> {
  return server.ctx.db
    .selectFrom('repositories')
    .select(['name', 'visibility'])
    .where('name', 'like', `${namespace}/%`)
    .orderBy('name')
    .execute();
}

function expectPlanRefusal(result: PushResult): void {
  expect(result).toEqual({ status: 403, code: 'DENIED', message: PLAN_MESSAGE });
}

describe('the private-repository limit at the point of creation', () => {
  it('a token asked for six repositories at once yields at most one private repository', async () => {
    expect(await hubApi('PATCH', '/user', { default_visibility: 'private' })).toBe(200);
    const names = [1, 2, 3, 4, 5, 6].map((i) => `alice/app${i}`);
    // Asked while none exists: each one alone would fit the plan, so /token grants push on all six.
    const { token, granted } = await pushToken(names);
    expect(granted.sort()).toEqual(names);

    const results = await Promise.all(names.map((name) => push(token, name)));
    const pushed = results.filter((r) => r.status === 201);
    expect(pushed).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 201)) expectPlanRefusal(r);

    const repos = await repositoriesOf('alice');
    expect(repos).toHaveLength(1);
    expect(repos[0]?.visibility).toBe('private');
    // Refused pushes leave neither blobs nor upload sessions behind.
    expect(await server.ctx.db.selectFrom('uploads').select('id').execute()).toEqual([]);
  });

  it('a token taken before the namespace default became private cannot add private repositories', async () => {
    expect(await hubApi('POST', '/repositories/alice', { name: 'secret', is_private: true })).toBe(201);
    // Default public: new repositories are public, so the token grants push on both.
    const { token, granted } = await pushToken(['alice/later', 'alice/other']);
    expect(granted.sort()).toEqual(['alice/later', 'alice/other']);
    expect(await hubApi('PATCH', '/user', { default_visibility: 'private' })).toBe(200);

    expectPlanRefusal(await push(token, 'alice/later'));
    expectPlanRefusal(await push(token, 'alice/other'));
    expect(await repositoriesOf('alice')).toEqual([{ name: 'alice/secret', visibility: 'private' }]);

    // Room again (the private one made public): the same token's push creates a private repository.
    expect(await hubApi('PATCH', '/repositories/alice/secret', { is_private: false })).toBe(200);
    expect((await push(token, 'alice/later')).status).toBe(201);
    expectPlanRefusal(await push(token, 'alice/other'));
    expect(await repositoriesOf('alice')).toEqual([
      { name: 'alice/later', visibility: 'private' },
      { name: 'alice/secret', visibility: 'public' },
    ]);
  });

  it('the hub API holds the same limit for concurrent creations and visibility changes', async () => {
    const created = await Promise.all(
      [1, 2, 3, 4].map((i) => hubApi('POST', '/repositories/alice', { name: `p${i}`, is_private: true })),
    );
    expect(created.filter((s) => s === 201)).toHaveLength(1);
    expect(created.filter((s) => s === 403)).toHaveLength(3);
    for (const i of [1, 2, 3]) expect(await hubApi('POST', '/repositories/alice', { name: `pub${i}` })).toBe(201);
    const switched = await Promise.all(
      [1, 2, 3].map((i) => hubApi('PATCH', `/repositories/alice/pub${i}`, { is_private: true })),
    );
    expect(switched).toEqual([403, 403, 403]);
    expect((await repositoriesOf('alice')).filter((r) => r.visibility === 'private')).toHaveLength(1);
  });
});
