import { type MetadataDb, now } from './db.js';

export interface UploadRecord {
  id: string;
  repository: string;
  startedAt: string;
}

export async function createUpload(db: MetadataDb, id: string, repository: string): Promise<void> {
  const at = now();
  await db.insertInto('uploads').values({ id, repository, started_at: at, updated_at: at }).execute();
}

export async function findUpload(db: MetadataDb, id: string): Promise<UploadRecord | undefined> {
  return db
    .selectFrom('uploads')
    .select(['id', 'repository', 'started_at as startedAt'])
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function touchUpload(db: MetadataDb, id: string): Promise<void> {
  await db.updateTable('uploads').set({ updated_at: now() }).where('id', '=', id).execute();
}

export async function deleteUpload(db: MetadataDb, id: string): Promise<void> {
  await db.deleteFrom('uploads').where('id', '=', id).execute();
}

/** Upload sessions not touched since `before` (ISO time). */
export async function listStaleUploads(db: MetadataDb, before: string): Promise<string[]> {
  const rows = await db.selectFrom('uploads').select('id').where('updated_at', '<', before).execute();
  return rows.map((r) => r.id);
}
