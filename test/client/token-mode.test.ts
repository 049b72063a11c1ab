// The registry client against a real `wharf serve` in token mode: the Docker token flow
// (challenge → token for the request's scopes → retry), login with an offline token, the identity
// token's OAuth2 refresh flow, wrong credentials, and mounts from repositories we may not read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/client/client.js';
import { RegistryClientError } from '../../src/client/errors.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { startWharf, WHARF_BIN, type WharfProcess } from '../support/server.js';
import { runOk } from '../support/tools.js';
import { bytesBlob, HashSink, pushImage, type TestProxy, testProxy } from './helpers.js';
import { clientFlows } from './suite.js';

const ADMIN_PASSWORD = 'admin-password-1';
const BOB_PASSWORD = 'bob-password-1';

describe('registry client against Wharf (auth token)', () => {
  let wharf: WharfProcess;
  const clients: RegistryClient[] = [];
  const proxies: TestProxy[] = [];
  const newClient = (opts: ConstructorParameters<typeof RegistryClient>[0]) => {
    const c = new RegistryClient(opts);
    clients.push(c);
    return c;
  };
  const newProxy = async () => {
    const p = await testProxy(wharf.host);
    proxies.push(p);
    return p;
  };
  /** The scope parameters of the GET /token requests seen by a proxy (POST forms are not visible). */
  const tokenScopes = (p: TestProxy) =>
    p.seen
      .filter((r) => r.method === 'GET' && r.path.startsWith('/token'))
      .map((r) => new URL(r.path, 'http://x').searchParams.getAll('scope'));

  beforeAll(async () => {
    wharf = await startWharf({
      env: {
        WHARF_AUTH_MODE: 'token',
        WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD,
        WHARF_AUTH_DEFAULT_VISIBILITY: 'private',
        WHARF_LIMITS_TAGS_MAX_ENTRIES: '2',
      },
    });
    // A second, ordinary account: it owns bob/… and may read nothing else (repositories are private).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WHARF_')));
    await runOk(process.execPath, [WHARF_BIN, 'user', 'add', 'bob', '--password-stdin', '--data', wharf.dataDir], {
      env,
      input: `${BOB_PASSWORD}\n`,
    });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(proxies.map((p) => p.close()));
    await wharf?.cleanup();
  });

  describe('as admin', () => {
    clientFlows(
      () => ({ host: wharf.host, credentials: { username: 'admin', password: ADMIN_PASSWORD }, tagPaging: 'server' }),
      'token',
    );
  });

  it('asks for repository:R:pull to read, R:push,pull to write, plus FROM:pull to mount', async () => {
    const proxy = await newProxy();
    const client = newClient({ host: proxy.host, credentials: { username: 'admin', password: ADMIN_PASSWORD } });
    const blob = bytesBlob('scoped blob');
    await client.pushBlob('scopes/a', blob.digest, blob.size, blob.open);
    await client.blobExists('scopes/a', blob.digest);
    await client.mountBlob('scopes/b', blob.digest, 'scopes/a');
    expect(tokenScopes(proxy)).toEqual([
      ['repository:scopes/a:pull,push'],
      ['repository:scopes/a:pull'],
      ['repository:scopes/a:pull', 'repository:scopes/b:pull,push'],
    ]);
    // Tokens are cached per scope set: more requests, no more token requests.
    await client.blobExists('scopes/a', blob.digest);
    await client.blobExists('scopes/b', blob.digest);
    expect(tokenScopes(proxy)).toHaveLength(4);
  });

  it('is safe to use concurrently: parallel requests share one token per scope set', async () => {
    const proxy = await newProxy();
    const client = newClient({ host: proxy.host, credentials: { username: 'admin', password: ADMIN_PASSWORD } });
    const blobs = Array.from({ length: 8 }, (_, i) => bytesBlob(`concurrent blob ${i}`));
    const results = await Promise.all(blobs.map((b) => client.pushBlob('concurrent/app', b.digest, b.size, b.open)));
    expect(results).toEqual(Array(8).fill('pushed'));
    const sinks = blobs.map(() => new HashSink());
    await Promise.all(blobs.map((b, i) => client.pullBlob('concurrent/app', b.digest, b.size, sinks[i] as HashSink)));
    expect(sinks.map((s) => s.digest())).toEqual(blobs.map((b) => b.digest));
    expect(tokenScopes(proxy)).toEqual([['repository:concurrent/app:pull,push'], ['repository:concurrent/app:pull']]);
  });

  it('a token the registry refuses (invalid_token) is dropped, a new one fetched, the request retried once', async () => {
    let spoil = 0;
    const proxy = await testProxy(wharf.host, {
      rewrite: (req) => {
        if (spoil > 0 && req.headers.authorization?.startsWith('Bearer ')) {
          spoil--;
          req.headers.authorization = 'Bearer not.a.token';
        }
      },
    });
    proxies.push(proxy);
    const client = newClient({ host: proxy.host, credentials: { username: 'admin', password: ADMIN_PASSWORD } });
    const image = await pushImage(client, 'retry/app', 'v1');
    await client.getManifest('retry/app', 'v1');
    const before = tokenScopes(proxy).length;
    spoil = 1;
    expect((await client.getManifest('retry/app', 'v1')).digest).toBe(image.digest);
    expect(tokenScopes(proxy).slice(before)).toEqual([['repository:retry/app:pull']]);
    // Refused twice in a row: the error, as Docker renders it.
    spoil = 2;
    const err = await client.getManifest('retry/app', 'v1').catch((e: unknown) => e);
    expect((err as RegistryClientError).status).toBe(401);
    expect((err as RegistryClientError).message).toContain('unauthorized: authentication required');
  });

  it('wrong credentials: unauthorized: incorrect username or password', async () => {
    const client = newClient({ host: wharf.host, credentials: { username: 'admin', password: 'not-the-password' } });
    const err = await client.listTags('token/app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryClientError);
    expect((err as RegistryClientError).message).toBe('unauthorized: incorrect username or password');
    expect((err as RegistryClientError).status).toBe(401);
    const login = await client.login().catch((e: unknown) => e);
    // Docker reports it as the failure of GET /v2/ (Go's url.Error around the token fetch).
    expect((login as Error).message).toBe(
      `Get "http://${wharf.host}/v2/": unauthorized: incorrect username or password`,
    );
    expect((login as RegistryClientError).status).toBe(401);
  });

  it('anonymous: a private repository is denied', async () => {
    const client = newClient({ host: wharf.host });
    const err = await client.getManifest('token/app', 'v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryClientError);
    expect((err as RegistryClientError).status).toBe(401);
    expect((err as RegistryClientError).message).toContain('denied: requested access to the resource is denied');
  });

  it('login() returns an identity token that works on a new client (OAuth2 refresh POST)', async () => {
    const loginProxy = await newProxy();
    const client = newClient({ host: loginProxy.host, credentials: { username: 'admin', password: ADMIN_PASSWORD } });
    const { identityToken } = await client.login();
    expect(identityToken).toMatch(/.{16,}/);
    const tokenGets = loginProxy.seen.filter((r) => r.path.startsWith('/token'));
    expect(tokenGets).toHaveLength(1);
    const params = new URL(tokenGets[0]?.path ?? '', 'http://x').searchParams;
    expect(params.get('offline_token')).toBe('true');
    expect(params.get('client_id')).toBe('wharf');
    expect(params.get('account')).toBe('admin');

    const proxy = await newProxy();
    const fresh = newClient({ host: proxy.host, credentials: { identityToken: identityToken as string } });
    const image = await pushImage(fresh, 'identity/app', 'v1');
    expect((await fresh.getManifest('identity/app', 'v1')).digest).toBe(image.digest);
    const tokenRequests = proxy.seen.filter((r) => r.path.startsWith('/token'));
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests.every((r) => r.method === 'POST')).toBe(true);
    // A login with the identity token works too, and gives an identity token back.
    expect((await fresh.login()).identityToken).toMatch(/.{16,}/);

    const revoked = newClient({ host: wharf.host, credentials: { identityToken: 'not-a-refresh-token' } });
    const err = await revoked.listTags('identity/app').catch((e: unknown) => e);
    expect((err as RegistryClientError).message).toBe('unauthorized: invalid or expired refresh token');
  });

  it('a mount from a repository the user may not read is not a mount (202): the blob is uploaded', async () => {
    const admin = newClient({ host: wharf.host, credentials: { username: 'admin', password: ADMIN_PASSWORD } });
    const secret = bytesBlob('a secret layer');
    await admin.pushBlob('secret/app', secret.digest, secret.size, secret.open);
    const bob = newClient({ host: wharf.host, credentials: { username: 'bob', password: BOB_PASSWORD } });
    const err = await bob.blobExists('secret/app', secret.digest).catch((e: unknown) => e);
    expect((err as RegistryClientError).status).toBe(401);
    expect(await bob.mountBlob('bob/app', secret.digest, 'secret/app')).toBe(false);
    expect(await bob.blobExists('bob/app', secret.digest)).toBeUndefined();
    expect(await bob.pushBlob('bob/app', secret.digest, secret.size, secret.open, { mountFrom: ['secret/app'] })).toBe(
      'pushed',
    );
    expect(await bob.blobExists('bob/app', secret.digest)).toBe(secret.size);
    // Within bob's own namespace mounts work.
    expect(await bob.mountBlob('bob/other', secret.digest, 'bob/app')).toBe(true);
    const image = await pushImage(bob, 'bob/app', 'latest', [secret]);
    expect((await bob.headManifest('bob/app', 'latest'))?.digest).toBe(image.digest);
    expect(await bob.listTags('bob/app')).toEqual(['latest']);
    expect((await bob.getManifest('bob/app', image.digest)).mediaType).toBe(MediaType.ociManifest);
  });
});
