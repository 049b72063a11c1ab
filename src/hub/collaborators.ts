import { type MetadataDb, now } from '../metadata/db.js';
import type { Permission } from '../metadata/hub-schema.js';

export interface Collaborator {
  username: string;
  permission: Permission;
  createdAt: string;
}

export async function listCollaborators(db: MetadataDb, repositoryId: number): Promise<Collaborator[]> {
  return db
    .selectFrom('collaborators as c')
    .innerJoin('accounts as a', 'a.id', 'c.account_id')
    .select(['a.username', 'c.permission', 'c.created_at as createdAt'])
    .where('c.repository_id', '=', repositoryId)
    .orderBy('a.username')
    .execute();
}

export async function setCollaborator(
  db: MetadataDb,
  repositoryId: number,
  accountId: number,
  permission: Permission,
): Promise<void> {
  await db
    .insertInto('collaborators')
    .values({ repository_id: repositoryId, account_id: accountId, permission, created_at: now() })
    .onConflict((oc) => oc.columns(['repository_id', 'account_id']).doUpdateSet({ permission }))
    .execute();
}

export async function removeCollaborator(db: MetadataDb, repositoryId: number, accountId: number): Promise<boolean> {
  const r = await db
    .deleteFrom('collaborators')
    .where('repository_id', '=', repositoryId)
    .where('account_id', '=', accountId)
    .executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
