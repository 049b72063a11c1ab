// The hub API's rate limit is configuration (api.rate_limit, api.rate_limit_window), and
// administrators — signed in with their password or an admin-scoped access token — are not
// limited unless api.rate_limit_exempt_admins is false: an admin's script that creates many
// organizations keeps working, while anonymous callers, other accounts and an admin's
// narrower tokens get 429 past the limit.
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { WharfServer } from '../../src/server/app.js';
import { hubServer } from '../support/server.js';

const PASSWORDS = { admin: 'admin-Secret-0', alice: 'alice-Secret-1' };
const LIMIT = 5;
const basic = (user: keyof typeof PASSWORDS) => `Basic ${Buffer.from(`${user}:${PASSWORDS[user]}`).toString('base64')}`;

async function withServer(env: NodeJS.ProcessEnv, fn: (app: FastifyInstance) => Promise<void>): Promise<void> {
  const server: WharfServer = await hubServer(PASSWORDS, { env: { WHARF_API_RATE_LIMIT: String(LIMIT), ...env } });
  try {
    await fn(server.app);
  } finally {
    await server.close();
  }
}

/** An access token of the admin's, made from another address (so it costs the tested one nothing). */
async function adminToken(app: FastifyInstance, scope: 'read' | 'admin'): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/access-tokens',
    remoteAddress: '10.0.0.99',
    headers: { authorization: basic('admin'), 'content-type': 'application/json' },
    payload: JSON.stringify({ token_label: `t-${scope}`, scope }),
  });
  expect(res.statusCode).toBe(201);
  return (res.json() as { token: string }).token;
}

/** Status codes of `n` requests from one address. */
async function statuses(app: FastifyInstance, n: number, authorization?: string, address = '10.0.0.1') {
  const codes: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await app.inject({
      method: 'GET',
      url: '/api/users/admin',
      remoteAddress: address,
      headers: authorization ? { authorization } : {},
    });
    codes.push(res.statusCode);
  }
  return codes;
}

describe('hub API rate limit', () => {
  it('api.rate_limit sets the limit: anonymous callers and other accounts get 429 past it', async () => {
    await withServer({}, async (app) => {
      const anonymous = await statuses(app, LIMIT + 1);
      expect(anonymous.slice(0, LIMIT).every((c) => c === 200)).toBe(true);
      expect(anonymous[LIMIT]).toBe(429);
      const alice = await statuses(app, LIMIT + 1, basic('alice'), '10.0.0.2');
      expect(alice[LIMIT]).toBe(429);
      const res = await app.inject({ method: 'GET', url: '/api/users/admin', remoteAddress: '10.0.0.3' });
      expect(res.headers['x-ratelimit-limit']).toBe(String(LIMIT));
    });
  });

  it('an administrator with the password is not limited: creating many organizations works', async () => {
    await withServer({}, async (app) => {
      for (let i = 0; i < LIMIT * 3; i++) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/orgs',
          remoteAddress: '10.0.0.1',
          headers: { authorization: basic('admin'), 'content-type': 'application/json' },
          payload: JSON.stringify({ name: `org-${i}` }),
        });
        expect(res.statusCode).toBe(201);
      }
    });
  });

  it("an admin-scoped token of an administrator passes; the admin's read token does not", async () => {
    await withServer({}, async (app) => {
      const admin = await adminToken(app, 'admin');
      const read = await adminToken(app, 'read');
      expect(await statuses(app, LIMIT * 2, `Bearer ${admin}`, '10.0.0.4')).toEqual(Array(LIMIT * 2).fill(200));
      expect((await statuses(app, LIMIT + 1, `Bearer ${read}`, '10.0.0.5'))[LIMIT]).toBe(429);
    });
  });

  it('api.rate_limit_exempt_admins: false limits administrators too', async () => {
    await withServer({ WHARF_API_RATE_LIMIT_EXEMPT_ADMINS: 'false' }, async (app) => {
      expect((await statuses(app, LIMIT + 1, basic('admin')))[LIMIT]).toBe(429);
    });
  });

  it('api.rate_limit: 0 turns the limit off', async () => {
    await withServer({ WHARF_API_RATE_LIMIT: '0' }, async (app) => {
      expect(await statuses(app, 20)).toEqual(Array(20).fill(200));
    });
  });
});
