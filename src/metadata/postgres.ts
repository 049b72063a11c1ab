// PostgreSQL metadata (issue 12): the same Kysely code as on SQLite, through `pg`. What differs
// between the dialects lives here and in dialect.ts, never in the callers.
import {
  type ColumnDefinitionNode,
  DataTypeNode,
  Kysely,
  type Migration,
  PostgresDialect,
  PostgresQueryCompiler,
  type QueryCompiler,
  RawNode,
  sql,
} from 'kysely';
import pg from 'pg';
import { type MigrateOptions, migrateDatabase } from './migrate.js';

// bigint (count(*), blob sizes) and numeric (sum()) come back as strings from pg; every size
// Wharf stores fits a JS number (< 2^53), so they are numbers here, as from better-sqlite3.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export interface PoolSettings {
  /** Connections per node. */
  max: number;
  /** An idle connection is closed after this many ms. */
  idleTimeoutMs: number;
  /** Giving up on a new connection after this many ms. */
  connectTimeoutMs: number;
}

/**
 * The migrations are written once, in the schema builder, for SQLite; two column definitions
 * read differently on PostgreSQL: `integer … autoincrement` is `serial`, `blob` is `bytea`.
 */
class SharedSchemaCompiler extends PostgresQueryCompiler {
  protected override visitColumnDefinition(node: ColumnDefinitionNode): void {
    let n = node;
    if (n.autoIncrement) n = { ...n, autoIncrement: false, dataType: DataTypeNode.create('serial') };
    const t = n.dataType;
    if (RawNode.is(t) && t.sqlFragments.join('').trim().toLowerCase() === 'blob') {
      n = { ...n, dataType: DataTypeNode.create('bytea') };
    }
    super.visitColumnDefinition(n);
  }
}

class WharfPostgresDialect extends PostgresDialect {
  override createQueryCompiler(): QueryCompiler {
    return new SharedSchemaCompiler();
  }
}

/**
 * SQLite functions the shipped migrations use, defined for PostgreSQL before they run. Under an
 * advisory lock: nodes starting at once on one database would otherwise race in `create or
 * replace function` (a unique violation in pg_proc stops all but one).
 */
async function defineSqliteFunctions(db: Kysely<unknown>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(hashtext('wharf:define-sqlite-functions'))`.execute(tx);
    await sql`create or replace function instr(text, text) returns integer
      language sql immutable as 'select strpos($1, $2)'`.execute(tx);
  });
}

/** Opens a PostgreSQL database through a pool and brings its schema up to date. */
export async function openMigratedPostgres<DB>(
  url: string,
  migrations: Record<string, Migration>,
  options: { label: string; pool: PoolSettings } & MigrateOptions,
): Promise<Kysely<DB>> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.pool.max,
    idleTimeoutMillis: options.pool.idleTimeoutMs,
    connectionTimeoutMillis: options.pool.connectTimeoutMs,
  });
  // An idle connection that breaks (PostgreSQL restarted) must not crash the process: the pool
  // drops it and the next query opens a new one.
  pool.on('error', () => undefined);
  // Likewise for a connection that breaks while a query runs: the query fails with the error
  // (answered 503, see db-errors.ts); the event must not also crash the process.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<DB>({ dialect: new WharfPostgresDialect({ pool }) });
  try {
    await defineSqliteFunctions(db as Kysely<unknown>);
    await migrateDatabase(db as Kysely<unknown>, migrations, options.label, options);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}
