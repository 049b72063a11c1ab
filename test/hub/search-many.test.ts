// Search with more matches than it ranks one by one (issue 15): the pages walk an index and stop,
// yet the counts, the access checks, the exact-name rule and the column orders stay right.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataDb } from '../../src/metadata/db.js';
import { RANK_ALL_UP_TO, searchRepositories } from '../../src/metadata/search.js';
import type { WharfServer } from '../../src/server/app.js';
import { memoryServer } from '../support/server.js';

const MATCHING = RANK_ALL_UP_TO + 500;
const OTHERS = 1000;
const PRIVATE = 40;

describe('search with many matches', () => {
  let server: WharfServer;
  let db: MetadataDb;

  beforeAll(async () => {
    server = await memoryServer();
    db = server.ctx.db;
    const rows = [];
    for (let i = 0; i < MATCHING; i++) {
      rows.push({
        name: `team${i % 20}/web-svc-${i}`,
        created_at: '2026-01-01T00:00:00.000Z',
        namespace_id: null,
        description: `web service ${i}`,
        star_count: (i * 37) % 1000,
        pull_count: (i * 7919) % 100_000,
        last_pushed_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
        visibility: 'public' as const,
      });
    }
    for (let i = 0; i < OTHERS; i++) {
      rows.push({
        name: `team${i % 20}/batch-${i}`,
        created_at: '2026-01-01T00:00:00.000Z',
        namespace_id: null,
        description: `batch job ${i}`,
        star_count: 5000,
        pull_count: 5_000_000,
        last_pushed_at: '2027-01-01T00:00:00.000Z',
        visibility: 'public' as const,
      });
    }
    // Private matches in alice's namespace; and an unpopular exact name.
    for (let i = 0; i < PRIVATE; i++) {
      rows.push({
        name: `alice/web-private-${i}`,
        created_at: '2026-01-01T00:00:00.000Z',
        namespace_id: null,
        description: '',
        star_count: 9999,
        pull_count: 10_000_000,
        last_pushed_at: null,
        visibility: 'private' as const,
      });
    }
    rows.push({
      name: 'web',
      created_at: '2026-01-01T00:00:00.000Z',
      namespace_id: null,
      description: '',
      star_count: 0,
      pull_count: 0,
      last_pushed_at: null,
      visibility: 'public' as const,
    });
    for (let i = 0; i < rows.length; i += 500) {
      await db
        .insertInto('repositories')
        .values(rows.slice(i, i + 500))
        .execute();
    }
  }, 120_000);

  afterAll(async () => {
    await server?.close();
  });

  const anonymous = { all: false } as const;

  it('counts exactly, and only what the reader may see', async () => {
    const page = await searchRepositories(db, { text: 'web', reader: anonymous, limit: 25, offset: 0 });
    expect(page.total).toBe(MATCHING + 1);
    const alice = await searchRepositories(db, {
      text: 'web',
      reader: { all: false, namespace: 'alice' },
      limit: 25,
      offset: 0,
    });
    expect(alice.total).toBe(MATCHING + 1 + PRIVATE);
    const all = await searchRepositories(db, { text: 'web', reader: { all: true }, limit: 25, offset: 0 });
    expect(all.total).toBe(MATCHING + 1 + PRIVATE);
  });

  it('ranks the exact name first, then the most popular matches; never a non-match or a hidden one', async () => {
    const page = await searchRepositories(db, { text: 'web', reader: anonymous, limit: 25, offset: 0 });
    expect(page.hits[0]?.name).toBe('web');
    expect(page.hits).toHaveLength(25);
    for (const h of page.hits) {
      expect(h.name).toContain('web');
      expect(h.isPrivate).toBe(false);
    }
    // The private matches (most stars and pulls of the matches) come first for their owner after the exact name.
    const alice = await searchRepositories(db, {
      text: 'web',
      reader: { all: false, namespace: 'alice' },
      limit: 5,
      offset: 0,
    });
    expect(alice.hits[0]?.name).toBe('web');
    expect(alice.hits.slice(1).every((h) => h.name.startsWith('alice/web-private-'))).toBe(true);
  });

  it('sorts by a column across all matches, and pages do not overlap', async () => {
    const byStars = await searchRepositories(db, {
      text: 'web',
      reader: anonymous,
      limit: 10,
      offset: 0,
      ordering: '-star_count',
    });
    const maxStars = Math.max(...Array.from({ length: MATCHING }, (_, i) => (i * 37) % 1000));
    expect(byStars.hits[0]?.starCount).toBe(maxStars);
    const stars = byStars.hits.map((h) => h.starCount);
    expect([...stars].sort((a, b) => b - a)).toEqual(stars);
    const next = await searchRepositories(db, {
      text: 'web',
      reader: anonymous,
      limit: 10,
      offset: 10,
      ordering: '-star_count',
    });
    expect(next.hits.every((h) => (h.starCount ?? 0) <= (stars[9] ?? 0))).toBe(true);
    expect(new Set([...byStars.hits, ...next.hits].map((h) => h.name)).size).toBe(20);
    const updated = await searchRepositories(db, {
      text: 'web',
      reader: anonymous,
      limit: 1,
      offset: 0,
      ordering: '-last_updated',
    });
    expect(updated.hits[0]?.name).toBe(`team${(MATCHING - 1) % 20}/web-svc-${MATCHING - 1}`);
  });
});
