// Read-then-write changes that SQLite's single writer kept in order must stay in order on
// PostgreSQL (issue 12), where transactions run side by side. Runs on the dialect of the run:
// SQLite in `npm test`, PostgreSQL in `npm run test:postgres`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { star, unstar } from '../../src/hub/stars.js';
import { createAccount, findAccount } from '../../src/metadata/accounts.js';
import { ensureRepository } from '../../src/metadata/repositories.js';
import type { WharfServer } from '../../src/server/app.js';
import { memoryServer } from '../support/server.js';

const USERS = Array.from({ length: 20 }, (_, i) => `user${i}`);

describe(`concurrent changes of one repository (${process.env.WHARF_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, () => {
  let server: WharfServer;
  let ids: number[];
  beforeAll(async () => {
    server = await memoryServer({ WHARF_DATABASE_POOL_MAX: '10' });
    for (const username of USERS) await createAccount(server.ctx.db, { username, passwordHash: 'x' });
    ids = await Promise.all(USERS.map(async (u) => (await findAccount(server.ctx.db, u))?.id ?? -1));
  });
  afterAll(() => server?.close());

  it('twenty accounts starring at once count twenty stars; unstarring at once counts zero', async () => {
    const repo = await ensureRepository(server.ctx.db, 'user0/app');
    const counts = await Promise.all(ids.map((id) => star(server.ctx.db, repo, id)));
    // Each star saw all the stars committed before it: the counts are 1…20, each once.
    expect([...counts].sort((a, b) => a - b)).toEqual(USERS.map((_, i) => i + 1));
    const row = await server.ctx.db
      .selectFrom('repositories')
      .select('star_count')
      .where('id', '=', repo)
      .executeTakeFirstOrThrow();
    expect(row.star_count).toBe(20);
    await Promise.all(ids.map((id) => unstar(server.ctx.db, repo, id)));
    const after = await server.ctx.db
      .selectFrom('repositories')
      .select('star_count')
      .where('id', '=', repo)
      .executeTakeFirstOrThrow();
    expect(after.star_count).toBe(0);
  });
});
