// `wharf migrate` and the refusal of a schema newer than the code (issue 12), on the dialect of
// the run: SQLite in `npm test`, PostgreSQL in `npm run test:postgres` (WHARF_TEST_DATABASE).
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, type MetadataLocation, openMetadata } from '../../src/metadata/db.js';
import { registryMigrations } from '../../src/metadata/migrations.js';
import { testDatabaseEnv, WHARF_BIN } from '../support/server.js';
import { freePort, removeTmpDir, run, tmpDir } from '../support/tools.js';

const pool = { max: 2, idleTimeoutMs: 1_000, connectTimeoutMs: 5_000 };
const dirs: string[] = [];

/** A data directory and, on the PostgreSQL run, an empty database of its own. */
async function freshData(): Promise<{ dir: string; env: NodeJS.ProcessEnv; location: MetadataLocation }> {
  const dir = await tmpDir('wharf-migrate-');
  dirs.push(dir);
  const env = { ...process.env, ...(await testDatabaseEnv(dir)) };
  return { dir, env, location: { url: env.WHARF_DATABASE_URL ?? '', pool, sqliteFile: join(dir, DATABASE_FILE) } };
}

function wharf(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [WHARF_BIN, ...args], { env: { ...env, WHARF_LOG_LEVEL: 'warn' }, timeoutMs: 30_000 });
}

/** Records a migration this code does not have, as a newer Wharf would have left it. */
async function addFutureMigration(location: MetadataLocation): Promise<void> {
  const db = (await openMetadata(location)) as unknown as Kysely<{
    kysely_migration: { name: string; timestamp: string };
  }>;
  await db
    .insertInto('kysely_migration')
    .values({ name: '9999_from_the_future', timestamp: new Date().toISOString() })
    .execute();
  await db.destroy();
}

async function migrationNames(location: MetadataLocation): Promise<string[]> {
  const db = (await openMetadata(location, { migrate: false })) as unknown as Kysely<{
    kysely_migration: { name: string };
  }>;
  try {
    return (await db.selectFrom('kysely_migration').select('name').orderBy('name').execute()).map((r) => r.name);
  } finally {
    await db.destroy();
  }
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await removeTmpDir(dir);
});

describe(`wharf migrate (${process.env.WHARF_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite'})`, () => {
  it('applies every migration to an empty database, then has nothing left to do', async () => {
    const { dir, env, location } = await freshData();
    const first = await wharf(['migrate', '--data', dir], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    // Applied in name order (the object's order is the modules' order).
    const all = Object.keys(registryMigrations).sort();
    expect(first.stdout).toContain(`applied ${all.length} migration(s): ${all.join(', ')}`);
    expect(await migrationNames(location)).toEqual(all);
    const second = await wharf(['migrate', '--data', dir], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('database schema is up to date');
  });

  it('eight nodes opening one empty database at once all start, and each migration is applied once', async () => {
    const { location } = await freshData();
    const nodes = await Promise.all(Array.from({ length: 8 }, () => openMetadata(location)));
    try {
      expect(await migrationNames(location)).toEqual(Object.keys(registryMigrations).sort());
    } finally {
      await Promise.all(nodes.map((db) => db.destroy()));
    }
  });

  it('four wharf processes migrating one new data directory at once all succeed, and none applies a migration twice', async () => {
    const { dir, env, location } = await freshData();
    const runs = await Promise.all(Array.from({ length: 4 }, () => wharf(['migrate', '--data', dir], env)));
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const all = Object.keys(registryMigrations).sort();
    // Exactly one process applied them; the others found the schema up to date.
    expect(runs.filter((r) => r.stdout.includes(`applied ${all.length} migration(s)`))).toHaveLength(1);
    expect(await migrationNames(location)).toEqual(all);
  });

  it('a schema migrated by a newer Wharf is refused by serve, migrate and the library', async () => {
    const { dir, env, location } = await freshData();
    await addFutureMigration(location);
    const before = await migrationNames(location).catch((e: unknown) => e);
    // Even the read-only open (no migration) refuses: this code does not understand the schema.
    expect(String(before)).toMatch(/database schema is newer than this Wharf: it has migration 9999_from_the_future/);
    await expect(openMetadata(location)).rejects.toThrow(/database schema is newer than this Wharf/);

    const serve = await wharf(['serve', '--addr', `127.0.0.1:${await freePort()}`, '--data', dir], env);
    expect(serve.code).not.toBe(0);
    expect(serve.stderr).toContain('database schema is newer than this Wharf');
    const migrate = await wharf(['migrate', '--data', dir], env);
    expect(migrate.code).not.toBe(0);
    expect(migrate.stderr).toContain('database schema is newer than this Wharf');
    expect(migrate.stdout).toBe('');
  });
});
