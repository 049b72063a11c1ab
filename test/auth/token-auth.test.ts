// Docker token authentication end to end (hub-and-engine.md §2): challenges, the token
// endpoint (GET and OAuth2 POST), JWT claims, forged tokens, scope enforcement, privacy of
// private repositories, failed-login throttling, and secrets kept out of the logs.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/passwords.js';
import type { ResourceAccess } from '../../src/auth/scope.js';
import { createAccount, findAccount, updateAccount } from '../../src/metadata/accounts.js';
import { findRepositoryId, setGrant, setVisibility } from '../../src/metadata/repositories.js';
import { listSigningKeys } from '../../src/metadata/signing-keys.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/mediatypes.js';
import { buildServer, type WharfServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { startWharf, type WharfProcess } from '../support/server.js';
import { removeTmpDir, tmpDir } from '../support/tools.js';

const HOST = 'registry.test:5000';
const REALM = `http://${HOST}/token`;
const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1', bob: 'bob-Secret-2', carol: 'carol-Secret-3' };

type User = keyof typeof PASSWORDS;

interface TokenBody {
  token?: string;
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  issued_at?: string;
  scope?: string;
}

interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

let dir: string;
let server: WharfServer;
let app: FastifyInstance;

/** An in-process token-mode server on a filesystem data dir (so the signing key can be read). */
async function tokenServer(env: NodeJS.ProcessEnv = {}): Promise<void> {
  dir = await tmpDir('wharf-token-auth');
  const config = loadConfig({
    env: { WHARF_STORAGE_ROOT: dir, WHARF_AUTH_MODE: 'token', WHARF_LOG_LEVEL: 'silent', ...env },
  });
  server = await buildServer(config);
  app = server.app;
  const db = server.ctx.db;
  // The bootstrapped admin has a generated password; give it a known one.
  await updateAccount(db, 'admin', { passwordHash: await hashPassword(PASSWORDS.admin) });
  for (const user of ['alice', 'bob', 'carol'] as const) {
    await createAccount(db, { username: user, passwordHash: await hashPassword(PASSWORDS[user]) });
  }
  await updateAccount(db, 'carol', { disabled: true });
}

afterEach(async () => {
  await server?.close();
  if (dir) await removeTmpDir(dir);
});

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const bearer = (token: string): Record<string, string> => ({ host: HOST, authorization: `Bearer ${token}` });

/** GET /token as the Docker daemon sends it. */
function requestToken(
  scopes: string[],
  user?: { name: string; password: string },
  extra: [string, string][] = [],
  remoteAddress?: string,
): Promise<LightMyRequestResponse> {
  const params = new URLSearchParams([['service', 'wharf']]);
  if (user) params.append('account', user.name);
  for (const s of scopes) params.append('scope', s);
  for (const [k, v] of extra) params.append(k, v);
  return app.inject({
    method: 'GET',
    url: `/token?${params.toString()}`,
    headers: { host: HOST, ...(user ? { authorization: basic(user.name, user.password) } : {}) },
    ...(remoteAddress ? { remoteAddress } : {}),
  });
}

const cred = (name: User) => ({ name, password: PASSWORDS[name] });

/** A token for `scopes`, anonymous or as `user`; the request must succeed. */
async function tokenFor(scopes: string[], user?: User): Promise<string> {
  const res = await requestToken(scopes, user ? cred(user) : undefined);
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json<TokenBody>();
  expect(body.access_token).toBeTruthy();
  return body.access_token as string;
}

/** The `access` claim of a token, checked for shape. */
function accessOf(token: string): ResourceAccess[] {
  const access = decodeJwt(token).access;
  expect(Array.isArray(access)).toBe(true);
  return (access as ResourceAccess[]).map((a) => ({ ...a, actions: [...a.actions].sort() }));
}

function errorOf(res: LightMyRequestResponse): ErrorBody['errors'][number] {
  const body = res.json<ErrorBody>();
  expect(body.errors.length).toBeGreaterThan(0);
  return body.errors[0] as ErrorBody['errors'][number];
}

/** Pushes a small image (config, one layer, OCI manifest) with a bearer token. */
async function pushAs(token: string, repo: string, tag = 'latest'): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' }, repo }));
  const layer = Buffer.from(`layer of ${repo}:${tag}`);
  for (const blob of [config, layer]) {
    const res = await app.inject({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?digest=${digestOf(blob)}`,
      headers: { ...bearer(token), 'content-type': 'application/octet-stream' },
      payload: blob,
    });
    expect(res.statusCode, res.body).toBe(201);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length },
      ],
    }),
  );
  const res = await app.inject({
    method: 'PUT',
    url: `/v2/${repo}/manifests/${tag}`,
    headers: { ...bearer(token), 'content-type': MediaType.ociManifest },
    payload: manifest,
  });
  expect(res.statusCode, res.body).toBe(201);
}

async function catalogOf(token: string): Promise<string[]> {
  const res = await app.inject({ method: 'GET', url: '/v2/_catalog', headers: bearer(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ repositories: string[] }>().repositories;
}

describe('token mode: challenges', () => {
  beforeEach(() => tokenServer());

  it('GET /v2/ without a token: 401 UNAUTHORIZED with a Bearer challenge without scope', async () => {
    const res = await app.inject({ method: 'GET', url: '/v2/', headers: { host: HOST } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${REALM}",service="wharf"`);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(errorOf(res).code).toBe('UNAUTHORIZED');
  });

  it('GET /v2/ with a valid token: 200 {}', async () => {
    const token = await tokenFor([], 'alice');
    const res = await app.inject({ method: 'GET', url: '/v2/', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
  });

  it('a repository request asks for the scope it needs: pull to read, pull,push to write', async () => {
    const pull = await app.inject({ method: 'GET', url: '/v2/alice/app/manifests/latest', headers: { host: HOST } });
    expect(pull.statusCode).toBe(401);
    expect(pull.headers['www-authenticate']).toBe(
      `Bearer realm="${REALM}",service="wharf",scope="repository:alice/app:pull"`,
    );
    expect(errorOf(pull).code).toBe('UNAUTHORIZED');

    const head = await app.inject({
      method: 'HEAD',
      url: `/v2/alice/app/blobs/sha256:${'a'.repeat(64)}`,
      headers: { host: HOST },
    });
    expect(head.statusCode).toBe(401);
    expect(head.headers['www-authenticate']).toContain('scope="repository:alice/app:pull"');

    const push = await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: { host: HOST } });
    expect(push.statusCode).toBe(401);
    expect(push.headers['www-authenticate']).toBe(
      `Bearer realm="${REALM}",service="wharf",scope="repository:alice/app:pull,push"`,
    );

    const catalog = await app.inject({ method: 'GET', url: '/v2/_catalog', headers: { host: HOST } });
    expect(catalog.statusCode).toBe(401);
    expect(catalog.headers['www-authenticate']).toContain('scope="registry:catalog:*"');
  });

  it('a token without the needed scope: 401 with error="insufficient_scope"', async () => {
    const token = await tokenFor(['repository:alice/other:pull'], 'alice');
    const res = await app.inject({ method: 'GET', url: '/v2/alice/app/manifests/latest', headers: bearer(token) });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer realm="${REALM}",service="wharf",scope="repository:alice/app:pull",error="insufficient_scope"`,
    );
    expect(errorOf(res).code).toBe('UNAUTHORIZED');
  });

  it('a garbage token: 401 with error="invalid_token"', async () => {
    const res = await app.inject({ method: 'GET', url: '/v2/', headers: bearer('not.a.jwt') });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="${REALM}",service="wharf",error="invalid_token"`);
    expect(errorOf(res).code).toBe('UNAUTHORIZED');
  });

  it('uses the configured realm when auth.realm is set', async () => {
    await server.close();
    await removeTmpDir(dir);
    await tokenServer({ WHARF_AUTH_REALM: 'https://auth.example.com/token', WHARF_AUTH_SERVICE: 'my-registry' });
    const res = await app.inject({ method: 'GET', url: '/v2/', headers: { host: HOST } });
    expect(res.headers['www-authenticate']).toBe('Bearer realm="https://auth.example.com/token",service="my-registry"');
  });
});

describe('token mode: the token endpoint', () => {
  beforeEach(async () => {
    await tokenServer();
    await pushAs(await tokenFor(['repository:alice/app:pull,push'], 'alice'), 'alice/app');
  });

  it('an anonymous token for a public repository grants pull only', async () => {
    const res = await requestToken(['repository:alice/app:pull,push']);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<TokenBody>();
    expect(body.token).toBe(body.access_token);
    const token = body.access_token as string;
    expect(decodeJwt(token).sub).toBe('');
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
    expect(body.refresh_token).toBeUndefined();
  });

  it('the owner gets pull and push on their namespace, even for a repository not yet pushed', async () => {
    const token = await tokenFor(['repository:alice/app:push,pull', 'repository:alice/new:pull,push'], 'alice');
    expect(decodeJwt(token).sub).toBe('alice');
    expect(accessOf(token)).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'alice/new', actions: ['pull', 'push'] },
    ]);
  });

  it("asking for push on someone else's repository grants the intersection, never an error", async () => {
    const res = await requestToken(
      ['repository:alice/app:pull,push', 'repository:alice/nothing:pull,push', 'repository:toplevel:push'],
      cred('bob'),
    );
    expect(res.statusCode).toBe(200);
    const token = res.json<TokenBody>().access_token as string;
    expect(decodeJwt(token).sub).toBe('bob');
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);

    const none = await tokenFor(['repository:alice/nothing:pull,push'], 'bob');
    expect(decodeJwt(none).access).toEqual([]);
  });

  it('takes several scopes in one parameter (space-separated) and ignores malformed ones', async () => {
    const token = await tokenFor(
      ['repository:alice/app:pull repository:alice/other:push', 'garbage', 'repository::pull', 'Repo:alice/app:pull'],
      'alice',
    );
    expect(accessOf(token)).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull'] },
      { type: 'repository', name: 'alice/other', actions: ['push'] },
    ]);
  });

  it('a wrong password, an unknown user and a disabled account all get the same 401', async () => {
    const wrong = await requestToken(['repository:alice/app:pull'], { name: 'alice', password: 'nope' });
    const unknown = await requestToken(['repository:alice/app:pull'], { name: 'mallory', password: 'nope' });
    const disabled = await requestToken(['repository:alice/app:pull'], cred('carol'));
    for (const res of [wrong, unknown, disabled]) {
      expect(res.statusCode).toBe(401);
      expect(errorOf(res)).toEqual({ code: 'UNAUTHORIZED', message: 'incorrect username or password' });
      expect(res.body).toBe(wrong.body);
    }
    // No token leaked into any of them.
    expect(wrong.body).not.toContain('token');
  });

  it('offline_token=true&client_id=docker returns a refresh token, usable with grant_type=refresh_token', async () => {
    const login = await requestToken([], cred('alice'), [
      ['offline_token', 'true'],
      ['client_id', 'docker'],
    ]);
    expect(login.statusCode).toBe(200);
    const refresh = login.json<TokenBody>().refresh_token;
    expect(typeof refresh).toBe('string');
    expect((refresh as string).length).toBeGreaterThanOrEqual(32);

    // Without offline_token there is none.
    const plain = await requestToken([], cred('alice'));
    expect(plain.json<TokenBody>().refresh_token).toBeUndefined();

    const res = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refresh as string,
        service: 'wharf',
        client_id: 'docker',
        scope: 'repository:alice/app:pull,push repository:bob/x:push',
      }).toString(),
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<TokenBody>();
    const token = body.access_token as string;
    expect(decodeJwt(token).sub).toBe('alice');
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    expect(body.scope).toBe('repository:alice/app:pull,push');
    expect(body.expires_in).toBeGreaterThanOrEqual(60);

    // The token actually works for a push.
    const upload = await app.inject({ method: 'POST', url: '/v2/alice/app/blobs/uploads/', headers: bearer(token) });
    expect(upload.statusCode).toBe(202);
  });

  it('POST grant_type=password returns an access token (and a refresh token with access_type=offline)', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'password',
        username: 'alice',
        password: PASSWORDS.alice,
        access_type: 'offline',
        service: 'wharf',
        client_id: 'docker',
        scope: 'repository:alice/app:pull',
      }).toString(),
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<TokenBody>();
    expect(decodeJwt(body.access_token as string).sub).toBe('alice');
    expect(accessOf(body.access_token as string)).toEqual([
      { type: 'repository', name: 'alice/app', actions: ['pull'] },
    ]);
    expect(typeof body.refresh_token).toBe('string');

    const wrong = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'nope' }).toString(),
    });
    expect(wrong.statusCode).toBe(401);
    expect(errorOf(wrong).message).toBe('incorrect username or password');
  });

  it('a bad refresh token: 401', async () => {
    for (const refresh of ['bogus', '', 'x'.repeat(43)]) {
      const res = await app.inject({
        method: 'POST',
        url: '/token',
        headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refresh,
          service: 'wharf',
        }).toString(),
      });
      expect(res.statusCode).toBe(401);
      expect(errorOf(res).code).toBe('UNAUTHORIZED');
      expect(res.body).not.toContain('access_token');
    }
  });

  it('a refresh token of an account disabled since stops working', async () => {
    const login = await requestToken([], cred('bob'), [
      ['offline_token', 'true'],
      ['client_id', 'docker'],
    ]);
    const refresh = login.json<TokenBody>().refresh_token as string;
    await updateAccount(server.ctx.db, 'bob', { disabled: true });
    const res = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh }).toString(),
    });
    expect(res.statusCode).toBe(401);
  });

  it('issues ES256 JWTs with iss, aud, sub, exp, nbf, iat, jti and a kid found in /token/jwks', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await requestToken(['repository:alice/app:pull'], cred('alice'));
    const body = res.json<TokenBody>();
    const token = body.access_token as string;
    const header = decodeProtectedHeader(token);
    expect(header.alg).toBe('ES256');
    expect(header.typ).toBe('JWT');
    expect(typeof header.kid).toBe('string');

    const jwksRes = await app.inject({ method: 'GET', url: '/token/jwks' });
    expect(jwksRes.statusCode).toBe(200);
    const jwks = jwksRes.json<{ keys: JWK[] }>();
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
    // Only the public part is published.
    for (const key of jwks.keys) expect(key.d).toBeUndefined();

    // Anyone holding the JWKS can verify the token.
    const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: 'wharf', audience: 'wharf' });
    expect(payload.iss).toBe('wharf');
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    expect(aud).toContain('wharf');
    expect(payload.sub).toBe('alice');
    const { iat, nbf, exp, jti } = payload as Required<Pick<JWTPayload, 'iat' | 'nbf' | 'exp' | 'jti'>>;
    expect(iat).toBeGreaterThanOrEqual(before - 1);
    expect(iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    expect(nbf).toBeLessThanOrEqual(iat);
    expect(exp - iat).toBe(body.expires_in);
    expect(body.expires_in).toBe(300);
    expect(new Date(body.issued_at as string).getTime() / 1000).toBe(iat);
    expect(typeof jti).toBe('string');
    expect(jti.length).toBeGreaterThan(8);

    const again = decodeJwt(await tokenFor(['repository:alice/app:pull'], 'alice'));
    expect(again.jti).not.toBe(jti);
  });

  it('keeps the signing key in the metadata database across restarts', async () => {
    const [key] = await listSigningKeys(server.ctx.db);
    expect(key?.current).toBe(true);
    // No key file any more: the database (shared by every node of a cluster) holds it.
    await expect(stat(join(dir, 'auth', 'token-signing-key.json'))).rejects.toThrow();
    const token = await tokenFor([], 'alice');
    expect(decodeProtectedHeader(token).kid).toBe(key?.kid);
    await server.close();
    server = await buildServer(
      loadConfig({ env: { WHARF_STORAGE_ROOT: dir, WHARF_AUTH_MODE: 'token', WHARF_LOG_LEVEL: 'silent' } }),
    );
    app = server.app;
    const res = await app.inject({ method: 'GET', url: '/v2/', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
  });

  it('an upgraded data directory: the old key file is imported, its tokens stay valid and it keeps signing', async () => {
    // What Wharf before migration 0010 left: a key file, and a token it signed.
    const old = await generateKeyPair('ES256', { extractable: true });
    const oldJwk: JWK = { ...(await exportJWK(old.privateKey)), alg: 'ES256', use: 'sig' };
    oldJwk.kid = await calculateJwkThumbprint(oldJwk);
    const upgraded = await tmpDir('wharf-token-upgrade');
    try {
      await mkdir(join(upgraded, 'auth'), { recursive: true });
      await writeFile(join(upgraded, 'auth', 'token-signing-key.json'), JSON.stringify(oldJwk), { mode: 0o600 });
      const t = Math.floor(Date.now() / 1000);
      const oldToken = await new SignJWT({ access: [] })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: oldJwk.kid })
        .setIssuer('wharf')
        .setAudience('wharf')
        .setSubject('alice')
        .setIssuedAt(t)
        .setNotBefore(t)
        .setExpirationTime(t + 300)
        .sign(old.privateKey);
      const up = await buildServer(
        loadConfig({ env: { WHARF_STORAGE_ROOT: upgraded, WHARF_AUTH_MODE: 'token', WHARF_LOG_LEVEL: 'silent' } }),
      );
      try {
        const res = await up.app.inject({ method: 'GET', url: '/v2/', headers: bearer(oldToken) });
        expect(res.statusCode).toBe(200);
        const jwks = (await up.app.inject({ method: 'GET', url: '/token/jwks' })).json() as { keys: JWK[] };
        expect(jwks.keys.map((k) => k.kid)).toEqual([oldJwk.kid]);
        expect(jwks.keys[0]?.d).toBeUndefined();
      } finally {
        await up.close();
      }
    } finally {
      await removeTmpDir(upgraded);
    }
  });
});

describe('token mode: forged tokens', () => {
  let realKey: JWK;
  let kid: string;
  const now = () => Math.floor(Date.now() / 1000);

  beforeEach(async () => {
    await tokenServer();
    const [stored] = await listSigningKeys(server.ctx.db);
    realKey = JSON.parse(stored?.privateJwk ?? '{}') as JWK;
    kid = realKey.kid as string;
    await pushAs(await tokenFor(['repository:alice/app:pull,push'], 'alice'), 'alice/app');
    await setVisibility(server.ctx.db, 'alice/app', 'private');
  });

  const access = [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] }];

  /** A token with the given claims (defaults: what Wharf itself would issue), signed with `key`. */
  async function forge(
    claims: { iss?: string; aud?: string; iat?: number; nbf?: number; exp?: number } = {},
    key?: Parameters<SignJWT['sign']>[0],
  ): Promise<string> {
    const t = now();
    return new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .setIssuer(claims.iss ?? 'wharf')
      .setAudience(claims.aud ?? 'wharf')
      .setSubject('mallory')
      .setIssuedAt(claims.iat ?? t)
      .setNotBefore(claims.nbf ?? t)
      .setExpirationTime(claims.exp ?? t + 300)
      .setJti('forged')
      .sign(key ?? (await importJWK(realKey, 'ES256')));
  }

  async function expectRefused(token: string): Promise<void> {
    const res = await app.inject({ method: 'GET', url: '/v2/alice/app/manifests/latest', headers: bearer(token) });
    expect(res.statusCode).toBe(401);
    expect(errorOf(res).code).toBe('UNAUTHORIZED');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    const base = await app.inject({ method: 'GET', url: '/v2/', headers: bearer(token) });
    expect(base.statusCode).toBe(401);
  }

  it('control: a token signed with the real key and correct claims is accepted', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/v2/alice/app/manifests/latest',
      headers: bearer(await forge()),
    });
    expect(res.statusCode).toBe(200);
  });

  it('refuses an unsigned alg: none token', async () => {
    const t = now();
    const token = new UnsecuredJWT({ access })
      .setIssuer('wharf')
      .setAudience('wharf')
      .setSubject('mallory')
      .setIssuedAt(t)
      .setNotBefore(t)
      .setExpirationTime(t + 300)
      .encode();
    await expectRefused(token);
    // The same with the kid header added by hand.
    const [, payload] = token.split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT', kid })).toString('base64url');
    await expectRefused(`${header}.${payload}.`);
  });

  it('refuses a token signed by another ES256 key carrying the same kid', async () => {
    const other = await generateKeyPair('ES256');
    await expectRefused(await forge({}, other.privateKey));
  });

  it('refuses an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const { d: _d, ...publicJwk } = realKey;
    const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
    const t = now();
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
      .setIssuer('wharf')
      .setAudience('wharf')
      .setSubject('mallory')
      .setIssuedAt(t)
      .setNotBefore(t)
      .setExpirationTime(t + 300)
      .sign(secret);
    await expectRefused(token);
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const real = await tokenFor(['repository:bob/app:pull'], 'bob');
    const [header, payload, signature] = real.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as JWTPayload;
    claims.access = access;
    const altered = Buffer.from(JSON.stringify(claims)).toString('base64url');
    await expectRefused(`${header}.${altered}.${signature}`);
  });

  it('refuses a wrong audience', async () => {
    await expectRefused(await forge({ aud: 'another-registry' }));
  });

  it('refuses a wrong issuer', async () => {
    await expectRefused(await forge({ iss: 'evil' }));
  });

  it('refuses an expired token', async () => {
    const t = now();
    await expectRefused(await forge({ iat: t - 900, nbf: t - 900, exp: t - 600 }));
  });

  it('refuses a token not yet valid (nbf in the future)', async () => {
    const t = now();
    await expectRefused(await forge({ iat: t, nbf: t + 600, exp: t + 900 }));
  });
});

describe('token mode: scope enforcement', () => {
  beforeEach(async () => {
    await tokenServer();
    const admin = await tokenFor(['repository:a:pull,push', 'repository:b:pull,push'], 'admin');
    await pushAs(admin, 'a');
    await pushAs(admin, 'b');
  });

  it('a token for repository:a:pull pulls a but cannot push to a nor pull b', async () => {
    const token = await tokenFor(['repository:a:pull']);
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'a', actions: ['pull'] }]);

    const pull = await app.inject({ method: 'GET', url: '/v2/a/manifests/latest', headers: bearer(token) });
    expect(pull.statusCode).toBe(200);

    const push = await app.inject({ method: 'POST', url: '/v2/a/blobs/uploads/', headers: bearer(token) });
    expect(push.statusCode).toBe(401);
    expect(push.headers['www-authenticate']).toContain('scope="repository:a:pull,push",error="insufficient_scope"');
    const put = await app.inject({
      method: 'PUT',
      url: '/v2/a/manifests/evil',
      headers: { ...bearer(token), 'content-type': MediaType.ociManifest },
      payload: '{}',
    });
    expect(put.statusCode).toBe(401);

    const other = await app.inject({ method: 'GET', url: '/v2/b/manifests/latest', headers: bearer(token) });
    expect(other.statusCode).toBe(401);
    expect(other.headers['www-authenticate']).toContain('scope="repository:b:pull",error="insufficient_scope"');

    const tags = await app.inject({ method: 'GET', url: '/v2/b/tags/list', headers: bearer(token) });
    expect(tags.statusCode).toBe(401);
  });

  it('even an admin token for a cannot delete in a or touch b', async () => {
    const token = await tokenFor(['repository:a:pull,push'], 'admin');
    const del = await app.inject({ method: 'DELETE', url: '/v2/a/manifests/latest', headers: bearer(token) });
    expect(del.statusCode).toBe(401);
    expect(del.headers['www-authenticate']).toContain('scope="repository:a:delete"');
    const push = await app.inject({ method: 'POST', url: '/v2/b/blobs/uploads/', headers: bearer(token) });
    expect(push.statusCode).toBe(401);
  });

  it('a cross-repository mount from b needs pull on b in the token itself', async () => {
    const layer = digestOf(Buffer.from('layer of b:latest'));
    // b is public, but alice's token does not carry pull on b: the blob is not mounted (201),
    // a normal upload session starts (202).
    const without = await tokenFor(['repository:alice/x:pull,push'], 'alice');
    const res = await app.inject({
      method: 'POST',
      url: `/v2/alice/x/blobs/uploads/?mount=${layer}&from=b`,
      headers: bearer(without),
    });
    expect(res.statusCode).toBe(202);
    // Control: with pull on b in the token, it is mounted.
    const withPull = await tokenFor(['repository:alice/x:pull,push', 'repository:b:pull'], 'alice');
    const mounted = await app.inject({
      method: 'POST',
      url: `/v2/alice/x/blobs/uploads/?mount=${layer}&from=b`,
      headers: bearer(withPull),
    });
    expect(mounted.statusCode).toBe(201);
  });
});

describe('token mode: private repositories', () => {
  beforeEach(async () => {
    await tokenServer();
    const alice = await tokenFor(['repository:alice/private:pull,push', 'repository:alice/public:pull,push'], 'alice');
    await pushAs(alice, 'alice/private');
    await pushAs(alice, 'alice/public');
    expect(await setVisibility(server.ctx.db, 'alice/private', 'private')).toBe(true);
  });

  /** Status, challenge and body of a response, with the repository name replaced. */
  const shape = (res: LightMyRequestResponse, name: string) => ({
    status: res.statusCode,
    challenge: String(res.headers['www-authenticate'] ?? '').replaceAll(name, 'NAME'),
    body: res.body.replaceAll(name, 'NAME'),
  });

  const layerDigest = digestOf(Buffer.from('layer of alice/private:latest'));
  const probes = (name: string) => [
    { method: 'GET' as const, url: `/v2/${name}/manifests/latest` },
    { method: 'HEAD' as const, url: `/v2/${name}/manifests/latest` },
    { method: 'GET' as const, url: `/v2/${name}/blobs/${layerDigest}` },
    { method: 'GET' as const, url: `/v2/${name}/tags/list` },
    { method: 'POST' as const, url: `/v2/${name}/blobs/uploads/` },
    { method: 'PUT' as const, url: `/v2/${name}/manifests/latest` },
    { method: 'DELETE' as const, url: `/v2/${name}/manifests/latest` },
  ];

  it('the owner can pull it (control)', async () => {
    const token = await tokenFor(['repository:alice/private:pull'], 'alice');
    const res = await app.inject({ method: 'GET', url: '/v2/alice/private/manifests/latest', headers: bearer(token) });
    expect(res.statusCode).toBe(200);
  });

  it('another account gets exactly the answers it gets for a repository that does not exist', async () => {
    const scopes = (name: string) => [`repository:${name}:pull,push,delete`];
    for (const who of ['bob', undefined] as const) {
      const priv = await requestToken(scopes('alice/private'), who ? cred(who) : undefined);
      const none = await requestToken(scopes('alice/nothing'), who ? cred(who) : undefined);
      expect(priv.statusCode).toBe(200);
      expect(none.statusCode).toBe(200);
      const privToken = priv.json<TokenBody>().access_token as string;
      const noneToken = none.json<TokenBody>().access_token as string;
      expect(decodeJwt(privToken).access).toEqual([]);
      expect(decodeJwt(noneToken).access).toEqual([]);

      const [privProbes, noneProbes] = [probes('alice/private'), probes('alice/nothing')];
      for (let i = 0; i < privProbes.length; i++) {
        const p = privProbes[i] as (typeof privProbes)[number];
        const n = noneProbes[i] as (typeof noneProbes)[number];
        for (const token of [privToken, undefined]) {
          const headers = token ? bearer(token) : { host: HOST };
          const a = await app.inject({ ...p, headers });
          const b = await app.inject({ ...n, headers: token ? bearer(noneToken) : { host: HOST } });
          expect(a.statusCode, `${p.method} ${p.url}`).toBe(401);
          expect(shape(a, 'alice/private'), `${p.method} ${p.url} as ${who ?? 'anonymous'}`).toEqual(
            shape(b, 'alice/nothing'),
          );
        }
      }
    }
  });

  it('the catalog lists it to its owner and the admin, not to another account or anonymously', async () => {
    const scope = ['registry:catalog:*'];
    expect(await catalogOf(await tokenFor(scope, 'alice'))).toEqual(['alice/private', 'alice/public']);
    expect(await catalogOf(await tokenFor(scope, 'admin'))).toEqual(['alice/private', 'alice/public']);
    expect(await catalogOf(await tokenFor(scope, 'bob'))).toEqual(['alice/public']);
    expect(await catalogOf(await tokenFor(scope))).toEqual(['alice/public']);
  });

  it('a pull grant lets another account pull (and see it in the catalog) but not push', async () => {
    const db = server.ctx.db;
    const repoId = await findRepositoryId(db, 'alice/private');
    const bob = await findAccount(db, 'bob');
    expect(repoId).toBeDefined();
    expect(bob).toBeDefined();
    await setGrant(db, repoId as number, (bob as NonNullable<typeof bob>).id, ['pull']);

    const token = await tokenFor(['repository:alice/private:pull,push'], 'bob');
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'alice/private', actions: ['pull'] }]);
    const pull = await app.inject({ method: 'GET', url: '/v2/alice/private/manifests/latest', headers: bearer(token) });
    expect(pull.statusCode).toBe(200);
    const push = await app.inject({ method: 'POST', url: '/v2/alice/private/blobs/uploads/', headers: bearer(token) });
    expect(push.statusCode).toBe(401);
    expect(push.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(await catalogOf(await tokenFor(['registry:catalog:*'], 'bob'))).toEqual(['alice/private', 'alice/public']);
    // Carol-like outsiders still see nothing; anonymous still nothing.
    expect(await catalogOf(await tokenFor(['registry:catalog:*']))).toEqual(['alice/public']);
  });
});

describe('token mode: failed-login throttling', () => {
  beforeEach(() => tokenServer({ WHARF_AUTH_MAX_LOGIN_FAILURES: '3', WHARF_AUTH_LOGIN_FAILURE_WINDOW: '5m' }));

  const login = (name: string, password: string, addr: string) =>
    requestToken(['repository:alice/app:pull'], { name, password }, [], addr);

  const expectThrottled = (res: LightMyRequestResponse) => {
    expect(res.statusCode).toBe(429);
    expect(errorOf(res).code).toBe('TOOMANYREQUESTS');
    const retry = Number(res.headers['retry-after']);
    expect(Number.isInteger(retry)).toBe(true);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(300);
    expect(res.body).not.toContain('access_token');
  };

  it('blocks an account after max_login_failures wrong passwords, even with the right one, from anywhere', async () => {
    for (let i = 0; i < 3; i++) expect((await login('alice', `wrong-${i}`, '10.0.0.1')).statusCode).toBe(401);
    expectThrottled(await login('alice', PASSWORDS.alice, '10.0.0.1'));
    // Per account: another address does not help.
    expectThrottled(await login('alice', PASSWORDS.alice, '10.0.0.2'));
    // Nor the POST variant.
    const post = await app.inject({
      method: 'POST',
      url: '/token',
      headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice }).toString(),
      remoteAddress: '10.0.0.2',
    });
    expectThrottled(post);
    // Another account from another address is not blocked.
    expect((await login('bob', PASSWORDS.bob, '10.0.0.3')).statusCode).toBe(200);
    // Anonymous tokens need no login and are never throttled.
    expect((await requestToken(['repository:alice/app:pull'], undefined, [], '10.0.0.1')).statusCode).toBe(200);
  });

  it('blocks an address after max_login_failures failures across accounts, not other addresses', async () => {
    for (const user of ['u1', 'u2', 'u3']) expect((await login(user, 'guess', '10.0.0.9')).statusCode).toBe(401);
    expectThrottled(await login('bob', PASSWORDS.bob, '10.0.0.9'));
    expect((await login('bob', PASSWORDS.bob, '10.0.0.10')).statusCode).toBe(200);
  });

  it("a successful login before the limit resets the account's count", async () => {
    for (let i = 0; i < 2; i++) expect((await login('alice', 'wrong', '10.0.0.1')).statusCode).toBe(401);
    expect((await login('alice', PASSWORDS.alice, '10.0.0.1')).statusCode).toBe(200);
    // From a fresh address (the first one's count is not reset): alice's count starts again.
    for (let i = 0; i < 2; i++) expect((await login('alice', 'wrong', '10.0.0.2')).statusCode).toBe(401);
    expect((await login('alice', PASSWORDS.alice, '10.0.0.2')).statusCode).toBe(200);
  });

  it('a good login on one account does not reset the address counter built by failures on others', async () => {
    // Two guesses on other accounts, then the guesser's own good login, then a third guess.
    for (const user of ['u1', 'u2']) expect((await login(user, 'guess', '10.0.0.9')).statusCode).toBe(401);
    expect((await login('bob', PASSWORDS.bob, '10.0.0.9')).statusCode).toBe(200);
    expect((await login('u3', 'guess', '10.0.0.9')).statusCode).toBe(401);
    // Three failures from this address within the window: blocked, good password or not.
    expectThrottled(await login('bob', PASSWORDS.bob, '10.0.0.9'));
    expectThrottled(await login('u4', 'guess', '10.0.0.9'));
    expect((await login('bob', PASSWORDS.bob, '10.0.0.10')).statusCode).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// A real `wharf serve` process: what ends up in its output.

/** `wharf serve` in token mode; WHARF_ADMIN_PASSWORD only when given (never inherited). */
function serveToken(dataDir: string, env: NodeJS.ProcessEnv): Promise<WharfProcess> {
  return startWharf({ dataDir, env: { WHARF_AUTH_MODE: 'token', WHARF_ADMIN_PASSWORD: undefined, ...env } });
}

describe('token mode: secrets and the log (real process)', () => {
  let data: string;
  let proc: WharfProcess | undefined;

  beforeEach(async () => {
    data = await tmpDir('wharf-token-log');
    proc = undefined;
  });
  afterEach(async () => {
    await proc?.stop();
    await removeTmpDir(data);
  });

  it('never logs passwords, Basic credentials, access tokens or refresh tokens', async () => {
    const password = 'xQ7-very-secret-admin-password';
    proc = await serveToken(data, { WHARF_ADMIN_PASSWORD: password, WHARF_LOG_LEVEL: 'debug' });
    const basicValue = Buffer.from(`admin:${password}`).toString('base64');

    const login = await fetch(`${proc.url}/token?service=wharf&account=admin&offline_token=true&client_id=docker`, {
      headers: { authorization: `Basic ${basicValue}` },
    });
    expect(login.status).toBe(200);
    const loginBody = (await login.json()) as TokenBody;
    const refresh = loginBody.refresh_token as string;
    expect(refresh).toBeTruthy();

    const wrongPassword = 'yZ9-wrong-guess-of-the-password';
    const wrong = await fetch(`${proc.url}/token?service=wharf&account=admin`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${wrongPassword}`).toString('base64')}` },
    });
    expect(wrong.status).toBe(401);

    const scoped = await fetch(`${proc.url}/token?service=wharf&scope=repository:admin/app:pull,push`, {
      headers: { authorization: `Basic ${basicValue}` },
    });
    const access = ((await scoped.json()) as TokenBody).access_token as string;

    const refreshed = await fetch(`${proc.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refresh,
        service: 'wharf',
        client_id: 'docker',
        scope: 'repository:admin/app:pull,push',
      }).toString(),
    });
    expect(refreshed.status).toBe(200);
    const access2 = ((await refreshed.json()) as TokenBody).access_token as string;

    const viaPassword = await fetch(`${proc.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'admin', password, service: 'wharf' }).toString(),
    });
    expect(viaPassword.status).toBe(200);

    const blob = Buffer.from('some layer');
    const push = await fetch(`${proc.url}/v2/admin/app/blobs/uploads/?digest=${digestOf(blob)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access}`, 'content-type': 'application/octet-stream' },
      body: blob,
    });
    expect(push.status).toBe(201);
    const pull = await fetch(`${proc.url}/v2/admin/app/blobs/${digestOf(blob)}`, {
      headers: { authorization: `Bearer ${access2}` },
    });
    expect(pull.status).toBe(200);
    const denied = await fetch(`${proc.url}/v2/_catalog`, { headers: { authorization: `Bearer ${access}` } });
    expect(denied.status).toBe(401);

    await proc.stop();
    const log = proc.log();
    // The requests were logged at all (so the checks below mean something).
    expect(log).toContain('/v2/admin/app/blobs/uploads/');
    expect(log).toContain('/token');
    for (const secret of [password, wrongPassword, basicValue, refresh, access, access2]) {
      expect(log).not.toContain(secret);
    }
    // Nor any part of a JWT (header.payload.signature: the signature alone is a secret).
    for (const jwt of [access, access2]) {
      for (const part of jwt.split('.')) expect(log).not.toContain(part);
    }
  });

  it('a generated admin password is logged once and kept in <data>/admin-password (mode 0600)', async () => {
    proc = await serveToken(data, { WHARF_LOG_LEVEL: 'info' });
    const file = join(data, 'admin-password');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const generated = (await readFile(file, 'utf8')).trim();
    expect(generated.length).toBeGreaterThanOrEqual(16);

    const login = await fetch(`${proc.url}/token?service=wharf&account=admin`, {
      headers: { authorization: basic('admin', generated) },
    });
    expect(login.status).toBe(200);
    expect(decodeJwt(((await login.json()) as TokenBody).access_token as string).sub).toBe('admin');

    await proc.stop();
    expect(proc.log().split(generated).length - 1).toBe(1);

    // A second start with the same data does not make (or log) another password.
    proc = await serveToken(data, { WHARF_LOG_LEVEL: 'info' });
    await proc.stop();
    expect(proc.log()).not.toContain(generated);
    expect(proc.log()).not.toContain('generated password');
    expect((await readFile(file, 'utf8')).trim()).toBe(generated);
  });
});
