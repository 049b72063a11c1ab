// Copying the metadata of one database into another with the same migrations (issue 12:
// `wharf migrate-storage`, SQLite → PostgreSQL). Every table is copied as it is, ids included,
// parents before children; PostgreSQL's sequences are moved past the copied ids afterwards.
// What differs between the dialects (foreign keys, virtual tables, sequences) stays here.
import { type Kysely, sql } from 'kysely';
import type { MetadataDb } from './db.js';
import { isPostgres } from './migrate.js';

type AnyDb = Kysely<Record<string, Record<string, unknown>>>;
const raw = (db: MetadataDb) => db as unknown as AnyDb;
const onPostgres = (db: MetadataDb) => isPostgres(db as Kysely<unknown>);

/**
 * Tables not copied: upload sessions in progress (their bytes stay in the source's storage;
 * clients restart them) and the login throttle's failures (they expire within minutes).
 */
export const TABLES_NOT_COPIED = new Set(['uploads', 'login_failures']);

/** Rows read from the source at a time: metadata is never read whole into memory. */
const PAGE = 500;

/** The tables to copy, parents before children (by foreign keys). */
export async function copyableTables(db: MetadataDb): Promise<string[]> {
  const tables = (await db.introspection.getTables())
    .filter((t) => !t.isView)
    .map((t) => t.name)
    .filter((name) => !TABLES_NOT_COPIED.has(name));
  // SQLite's full-text index (a virtual table and its shadow tables) is kept up to date by
  // triggers on the tables it indexes: never copied.
  const virtual = onPostgres(db) ? [] : await sqliteVirtualTables(db);
  const copied = tables.filter((t) => !virtual.some((v) => t === v || t.startsWith(`${v}_`)));
  return parentsFirst(copied, await foreignKeys(db));
}

async function sqliteVirtualTables(db: MetadataDb): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from sqlite_master
    where type = 'table' and sql like 'CREATE VIRTUAL TABLE%'`.execute(db);
  return rows.map((r) => r.name);
}

/** [child, parent] pairs of the foreign keys. */
async function foreignKeys(db: MetadataDb): Promise<[string, string][]> {
  const query = onPostgres(db)
    ? sql<{ child: string; parent: string }>`select c.relname as child, p.relname as parent
        from pg_constraint k join pg_class c on k.conrelid = c.oid join pg_class p on k.confrelid = p.oid
        join pg_namespace n on c.relnamespace = n.oid
        where k.contype = 'f' and n.nspname = current_schema()`
    : sql<{ child: string; parent: string }>`select m.name as child, f."table" as parent
        from sqlite_master m, pragma_foreign_key_list(m.name) f where m.type = 'table'`;
  return (await query.execute(db)).rows.map((r) => [r.child, r.parent]);
}

function parentsFirst(tables: string[], keys: [string, string][]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string) => {
    if (state.get(t) !== undefined) return;
    state.set(t, 'visiting');
    for (const [child, parent] of keys) if (child === t && parent !== t && tables.includes(parent)) visit(parent);
    state.set(t, 'done');
    order.push(t);
  };
  for (const t of [...tables].sort()) visit(t);
  return order;
}

/** Rows in the tables that say a registry is in use (accounts, repositories, blobs). */
export async function registryRows(db: MetadataDb): Promise<number> {
  let n = 0;
  for (const table of ['accounts', 'repositories', 'blobs'] as const) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    n += Number(row?.n ?? 0);
  }
  return n;
}

export interface TableCopy {
  table: string;
  rows: number;
}

/**
 * Replaces the content of `to`'s tables by `from`'s (SQLite), in one transaction on `to`: an
 * interrupted copy leaves `to` as it was. Returns the rows copied per table.
 */
export async function copyMetadata(
  from: MetadataDb,
  to: MetadataDb,
  onTable: (copy: TableCopy) => void = () => {},
): Promise<TableCopy[]> {
  if (onPostgres(from)) throw new Error('copying metadata from PostgreSQL is not supported (use pg_dump)');
  const sourceTables = new Set(await copyableTables(from));
  const tables = (await copyableTables(to)).filter((t) => sourceTables.has(t));
  const done: TableCopy[] = [];
  await raw(to)
    .transaction()
    .execute(async (tx) => {
      // Children first: the rows the migrations seeded (plans…) make way for the source's.
      for (const table of [...tables].reverse()) await tx.deleteFrom(table).execute();
      for (const table of tables) {
        let rows = 0;
        for await (const page of sqlitePages(from, table)) {
          // Within the bind-parameter limits of both dialects.
          const columns = Object.keys(page[0] ?? {}).length || 1;
          const chunk = Math.max(1, Math.floor(30_000 / columns));
          for (let i = 0; i < page.length; i += chunk)
            await tx
              .insertInto(table)
              .values(page.slice(i, i + chunk))
              .execute();
          rows += page.length;
        }
        const copy = { table, rows };
        done.push(copy);
        onTable(copy);
      }
      if (onPostgres(to)) await fixSequences(tx);
    });
  return done;
}

/** The rows of an SQLite table, PAGE at a time, in rowid order. */
async function* sqlitePages(db: MetadataDb, table: string): AsyncGenerator<Record<string, unknown>[]> {
  let last = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const { rows } = await sql<Record<string, unknown>>`select rowid as wharf_copy_rowid, * from ${sql.table(table)}
      where rowid > ${last} order by rowid limit ${PAGE}`.execute(db);
    if (rows.length === 0) return;
    last = Number(rows[rows.length - 1]?.wharf_copy_rowid);
    yield rows.map(({ wharf_copy_rowid: _, ...row }) => row);
    if (rows.length < PAGE) return;
  }
}

/** Every serial column's sequence continues after the largest id copied. */
async function fixSequences(db: AnyDb): Promise<void> {
  const { rows } = await sql<{ table_name: string; column_name: string }>`select table_name, column_name
    from information_schema.columns
    where table_schema = current_schema() and column_default like 'nextval(%'`.execute(db);
  for (const { table_name: t, column_name: c } of rows) {
    await sql`select setval(pg_get_serial_sequence(${t}, ${c}),
      coalesce((select max(${sql.ref(c)}) from ${sql.table(t)}), 0) + 1, false)`.execute(db);
  }
}
