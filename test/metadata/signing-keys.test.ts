// The token signing key is shared through the metadata database (issue 12): several nodes that
// start at the same moment on an empty database agree on one key, and a token one issues the
// others accept. Runs on the dialect of the run: SQLite in `npm test`, PostgreSQL in
// `npm run test:postgres` (where the inserts really race). The admin account that the first
// start creates is made once too.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAdmin } from '../../src/auth/bootstrap.js';
import { TokenService } from '../../src/auth/tokens.js';
import { countAccounts } from '../../src/metadata/accounts.js';
import { insertSigningKey, listSigningKeys } from '../../src/metadata/signing-keys.js';
import type { WharfServer } from '../../src/server/app.js';
import { memoryServer } from '../support/server.js';

const OPTIONS = { issuer: 'wharf', service: 'wharf', ttlMs: 300_000 };

describe(`token signing keys in the database (${process.env.WHARF_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, () => {
  let server: WharfServer;
  beforeAll(async () => {
    // auth.mode none: the server itself makes no key, the table starts empty.
    server = await memoryServer({ WHARF_DATABASE_POOL_MAX: '10' });
  });
  afterAll(() => server?.close());

  it('eight nodes starting at once make one signing key; each accepts the tokens of every other', async () => {
    const db = server.ctx.db;
    expect(await listSigningKeys(db)).toEqual([]);
    const nodes = await Promise.all(Array.from({ length: 8 }, () => TokenService.open(db, OPTIONS)));
    const keys = await listSigningKeys(db);
    expect(keys.filter((k) => k.current)).toHaveLength(1);
    for (const issuer of nodes) {
      const { token } = await issuer.issue('alice', [{ type: 'repository', name: 'alice/app', actions: ['pull'] }]);
      for (const verifier of nodes) expect((await verifier.verify(token)).subject).toBe('alice');
    }
    const jwks = await nodes[0]?.jwks();
    expect(jwks?.keys.map((k) => k.kid)).toEqual(keys.map((k) => k.kid));
  });

  it('a key added later by another node (an imported key file) verifies after a reload, and is in the JWKS', async () => {
    const db = server.ctx.db;
    const node = await TokenService.open(db, OPTIONS);
    const other = await TokenService.open(db, OPTIONS);
    // A second key that only verifies: what a node importing an older key file adds.
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.privateKey)), alg: 'ES256' };
    const kid = await calculateJwkThumbprint(jwk);
    expect(await insertSigningKey(db, { kid, privateJwk: JSON.stringify({ ...jwk, kid }), current: true })).toBe(false);
    expect(await insertSigningKey(db, { kid, privateJwk: JSON.stringify({ ...jwk, kid }), current: false })).toBe(true);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access: [] })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer('wharf')
      .setAudience('wharf')
      .setSubject('bob')
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 60)
      .sign(pair.privateKey);
    // The reload of an unknown kid is rate-limited (5 s): a fresh service (a restarted node) sees it at once.
    const restarted = await TokenService.open(db, OPTIONS);
    expect((await restarted.verify(token)).subject).toBe('bob');
    expect((await restarted.jwks()).keys.map((k) => k.kid)).toContain(kid);
    // The current key did not change.
    const { token: t2 } = await other.issue('carol', []);
    expect((await node.verify(t2)).subject).toBe('carol');
  });

  it('eight nodes starting at once on an empty database: one creates the admin account, none fails', async () => {
    const db = server.ctx.db;
    expect(await countAccounts(db)).toBe(0);
    const logs: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, () => ensureAdmin(db, { password: 'admin-Secret-1', log: (m) => logs.push(m) })),
    );
    expect(await countAccounts(db)).toBe(1);
    expect(logs).toHaveLength(1);
  });
});
