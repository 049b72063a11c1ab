// The client's auth pieces on their own: WWW-Authenticate parsing, scopes, the token cache and
// its expiry, token answers, Docker's error rendering, and what the token requests carry
// (recorded by a small realm server).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fetchToken,
  normalizeScopes,
  parseScope,
  parseTokenResponse,
  parseWWWAuthenticate,
  TokenAuthenticator,
  TokenCache,
  tokenTimes,
} from '../../src/client/auth.js';
import { errorFromAnswer, RegistryClientError } from '../../src/client/errors.js';

describe('WWW-Authenticate', () => {
  it('parses a Bearer challenge with realm, service, scope and error', () => {
    const [c] = parseWWWAuthenticate(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push",error="insufficient_scope"',
    );
    expect(c).toEqual({
      scheme: 'bearer',
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scopes: ['repository:samalba/my-app:pull,push'],
      error: 'insufficient_scope',
    });
  });

  it('splits several scopes on spaces, keeps commas inside quotes, unescapes, ignores case of names', () => {
    const [c] = parseWWWAuthenticate(
      'BEARER Realm = "http://h:5000/token?x=1,y=2" , Service="a \\"quoted\\" svc", scope="repository:a/b:pull repository:c:push,pull"',
    );
    expect(c).toMatchObject({
      scheme: 'bearer',
      realm: 'http://h:5000/token?x=1,y=2',
      service: 'a "quoted" svc',
      scopes: ['repository:a/b:pull', 'repository:c:push,pull'],
    });
  });

  it('parses several challenges in one header and across headers; drops unknown schemes and realm-less Bearer', () => {
    const challenges = parseWWWAuthenticate([
      'Negotiate abc==, Bearer realm="r1",service=s1, Basic realm="registry"',
      'Bearer service="no realm"',
      'Basic',
    ]);
    expect(challenges).toEqual([
      { scheme: 'bearer', realm: 'r1', service: 's1', scopes: [] },
      { scheme: 'basic', realm: 'registry' },
      { scheme: 'basic' },
    ]);
    expect(parseWWWAuthenticate(undefined)).toEqual([]);
    expect(parseWWWAuthenticate('')).toEqual([]);
  });
});

describe('scopes', () => {
  it('parses actions from the last colon (names may hold host:port)', () => {
    expect(parseScope('repository:localhost:5000/foo:pull,push')).toEqual({
      resource: 'repository:localhost:5000/foo',
      actions: ['pull', 'push'],
    });
    expect(parseScope('registry:catalog:*')).toEqual({ resource: 'registry:catalog', actions: ['*'] });
  });

  it('normalizes: one scope per resource, actions merged and sorted', () => {
    expect(
      normalizeScopes(['repository:b:push,pull', 'repository:a:pull', 'repository:b:pull', 'repository:b:delete']),
    ).toEqual(['repository:a:pull', 'repository:b:delete,pull,push']);
    expect(normalizeScopes(['repository:x:pull,push'])).toEqual(normalizeScopes(['repository:x:push,pull']));
  });
});

describe('token answers and lifetimes', () => {
  it('prefers access_token, treats expires_in below 60 s as 60 s, keeps the refresh token', () => {
    expect(parseTokenResponse('{"token":"t","access_token":"a","expires_in":10,"refresh_token":"r"}')).toEqual({
      token: 'a',
      expiresIn: 60,
      refreshToken: 'r',
    });
    expect(parseTokenResponse('{"token":"t","expires_in":300,"issued_at":"2009-11-10T23:00:00Z"}')).toEqual({
      token: 't',
      expiresIn: 300,
      issuedAt: '2009-11-10T23:00:00Z',
    });
    expect(() => parseTokenResponse('{"expires_in":300}')).toThrow(
      'authorization server did not include a token in the response',
    );
  });

  it('refreshes before expiry', () => {
    expect(tokenTimes(1_000, 5)).toEqual({ expiresAt: 61_000, refreshAt: 46_000 });
    expect(tokenTimes(0, 300)).toEqual({ expiresAt: 300_000, refreshAt: 270_000 });
  });

  it('TokenCache: one fetch for concurrent callers, a new one once stale, failures not kept', async () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      return { token: `t${fetches}`, ...tokenTimes(now, 60) };
    };
    const key = TokenCache.key('realm', 'svc', ['repository:a:pull']);
    const got = await Promise.all([cache.get(key, fetch), cache.get(key, fetch), cache.get(key, fetch)]);
    expect(got.map((t) => t.token)).toEqual(['t1', 't1', 't1']);
    now = 44_000;
    expect((await cache.get(key, fetch)).token).toBe('t1');
    now = 46_000;
    expect((await cache.get(key, fetch)).token).toBe('t2');
    cache.invalidate(key, 't1'); // not the cached one any more: kept
    expect((await cache.get(key, fetch)).token).toBe('t2');
    cache.invalidate(key, 't2');
    expect((await cache.get(key, fetch)).token).toBe('t3');
    const other = TokenCache.key('realm', 'svc', ['repository:b:pull']);
    await expect(cache.get(other, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await cache.get(other, fetch)).token).toBe('t4');
  });
});

describe("Docker's error rendering", () => {
  it('renders registry errors as `lower(code with _→space): message`', () => {
    const e = errorFromAnswer(401, '{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}');
    expect(e).toBeInstanceOf(RegistryClientError);
    expect(e.message).toBe('unauthorized: incorrect username or password');
    expect(e.status).toBe(401);
    expect(e.code).toBe('UNAUTHORIZED');
    expect(errorFromAnswer(404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}').message).toBe(
      'manifest unknown: manifest unknown',
    );
    expect(errorFromAnswer(404, '{"errors":[{"code":"BLOB_UNKNOWN"}]}').message).toBe(
      'blob unknown: blob unknown to registry',
    );
  });

  it('lists several errors, maps `details`, and falls back for unreadable bodies', () => {
    expect(
      errorFromAnswer(
        400,
        '{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"a"},{"code":"NAME_INVALID","message":"b"}]}',
      ).message,
    ).toBe('errors:\nmanifest blob unknown: a\nname invalid: b\n');
    expect(errorFromAnswer(401, '{"details":"bad creds"}').message).toBe('unauthorized: bad creds');
    expect(errorFromAnswer(401, 'nope').message).toBe('unauthorized: authentication required');
    expect(errorFromAnswer(500, '').message).toBe('received unexpected HTTP status: 500 Internal Server Error');
    expect(
      errorFromAnswer(401, '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', {
        error: 'insufficient_scope',
      }).message,
    ).toBe('errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required\n');
  });
});

interface Seen {
  method: string;
  url: URL;
  authorization: string | undefined;
  form: URLSearchParams | undefined;
}

describe('token requests', () => {
  let server: Server;
  let realm: string;
  const seen: Seen[] = [];
  let postSupported = true;
  let expiresIn = 1;
  const agent = new Agent();
  const options = () => ({ dispatcher: agent, clientId: 'wharf', userAgent: 'wharf-test' });

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => resolve(body));
    });

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = await readBody(req);
      const form = req.method === 'POST' ? new URLSearchParams(body) : undefined;
      seen.push({ method: req.method ?? '', url, authorization: req.headers.authorization, form });
      if (req.method === 'POST' && !postSupported) {
        res.writeHead(404).end();
        return;
      }
      const password = req.headers.authorization
        ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString().split(':')[1]
        : undefined;
      if (password === 'wrong' || form?.get('refresh_token') === 'revoked') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      const offline = url.searchParams.get('offline_token') === 'true' || form?.get('access_type') === 'offline';
      res.end(
        JSON.stringify({
          token: `token-${seen.length}`,
          expires_in: expiresIn,
          ...(offline || form ? { refresh_token: `refresh-${seen.length}` } : {}),
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });

  afterAll(async () => {
    await agent.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('GET with Basic credentials sends account= and one scope parameter per scope, no offline parameters', async () => {
    seen.length = 0;
    const res = await fetchToken(
      options(),
      { username: 'alice', password: 'secret' },
      { realm, service: 'wharf', scopes: ['repository:a:pull', 'repository:b:pull,push'] },
    );
    expect(res.token).toBe('token-1');
    const [s] = seen;
    expect(s?.method).toBe('GET');
    expect(s?.url.searchParams.get('service')).toBe('wharf');
    expect(s?.url.searchParams.getAll('scope')).toEqual(['repository:a:pull', 'repository:b:pull,push']);
    expect(s?.url.searchParams.get('account')).toBe('alice');
    expect(s?.url.searchParams.has('offline_token')).toBe(false);
    expect(s?.url.searchParams.has('client_id')).toBe(false);
    expect(s?.authorization).toBe(`Basic ${Buffer.from('alice:secret').toString('base64')}`);
  });

  it('anonymous GET carries no account and no Authorization; a login asks for an offline token', async () => {
    seen.length = 0;
    await fetchToken(options(), undefined, { realm, service: 'wharf', scopes: ['repository:a:pull'] });
    expect(seen[0]?.url.searchParams.has('account')).toBe(false);
    expect(seen[0]?.authorization).toBeUndefined();
    const login = await fetchToken(
      options(),
      { username: 'alice', password: 'secret' },
      { realm, service: 'wharf', scopes: [], offline: true },
    );
    expect(seen[1]?.url.searchParams.get('offline_token')).toBe('true');
    expect(seen[1]?.url.searchParams.get('client_id')).toBe('wharf');
    expect(seen[1]?.url.searchParams.has('scope')).toBe(false);
    expect(login.refreshToken).toBe('refresh-2');
  });

  it('with an identity token: the OAuth2 POST form; GET (anonymous) when the realm has no POST', async () => {
    seen.length = 0;
    await fetchToken(
      options(),
      { identityToken: 'refresh-x' },
      { realm, service: 'wharf', scopes: ['repository:a:pull', 'repository:b:push,pull'] },
    );
    expect(seen[0]?.method).toBe('POST');
    expect(Object.fromEntries(seen[0]?.form ?? [])).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-x',
      service: 'wharf',
      client_id: 'wharf',
      scope: 'repository:a:pull repository:b:push,pull',
    });
    postSupported = false;
    try {
      const res = await fetchToken(options(), { identityToken: 'refresh-x' }, { realm, service: 'wharf', scopes: [] });
      expect(res.token).toBe('token-3');
      expect(seen.map((s) => s.method)).toEqual(['POST', 'POST', 'GET']);
      expect(seen[2]?.authorization).toBeUndefined();
    } finally {
      postSupported = true;
    }
  });

  it('surfaces the realm’s errors as Docker renders them, with the status', async () => {
    const err = await fetchToken(
      options(),
      { username: 'alice', password: 'wrong' },
      { realm, service: 'wharf', scopes: [] },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryClientError);
    expect((err as RegistryClientError).message).toBe('unauthorized: incorrect username or password');
    expect((err as RegistryClientError).status).toBe(401);
  });

  it('TokenAuthenticator: cached per scope set for at least 60 s (less a margin), re-fetched before expiry', async () => {
    seen.length = 0;
    expiresIn = 1;
    let now = 1_000_000;
    const auth = new TokenAuthenticator(options(), { username: 'alice', password: 'secret' }, () => now);
    const challenge = { scheme: 'bearer' as const, realm, service: 'wharf', scopes: [] };
    const pullA = ['repository:a:pull'];
    const tokens = await Promise.all([1, 2, 3, 4].map(() => auth.token(challenge, pullA)));
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(seen).toHaveLength(1);
    await auth.token(challenge, ['repository:a:push,pull']);
    expect(seen).toHaveLength(2);
    now += 40_000;
    expect((await auth.token(challenge, pullA)).token).toBe(tokens[0]?.token);
    expect(seen).toHaveLength(2);
    now += 10_000; // 50 s: within 15 s of the (minimum) 60 s lifetime
    expect((await auth.token(challenge, pullA)).token).not.toBe(tokens[0]?.token);
    expect(seen).toHaveLength(3);
  });

  it('TokenAuthenticator keeps a rotated identity token', async () => {
    const auth = new TokenAuthenticator(options(), { identityToken: 'refresh-old' });
    await auth.token({ scheme: 'bearer', realm, service: 'wharf', scopes: [] }, ['repository:a:pull']);
    expect(auth.currentCredentials).toEqual({ identityToken: expect.stringMatching(/^refresh-\d+$/) });
  });
});
