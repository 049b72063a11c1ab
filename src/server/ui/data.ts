// Read-only views of repositories for the pages (hub columns, tags with their manifest sizes).
import type { MetadataDb } from '../../metadata/db.js';

export interface RepositoryView {
  id: number;
  name: string;
  namespace: string;
  shortName: string;
  visibility: 'public' | 'private';
  description: string;
  fullDescription: string;
  isOfficial: boolean;
  starCount: number;
  pullCount: number;
  lastPushedAt: string | null;
}

export async function repositoryView(db: MetadataDb, name: string): Promise<RepositoryView | undefined> {
  const r = await db
    .selectFrom('repositories')
    .select([
      'id',
      'name',
      'visibility',
      'description',
      'full_description',
      'is_official',
      'star_count',
      'pull_count',
      'last_pushed_at',
    ])
    .where('name', '=', name)
    .executeTakeFirst();
  if (!r) return undefined;
  const slash = r.name.lastIndexOf('/');
  return {
    id: r.id,
    name: r.name,
    namespace: slash < 0 ? 'library' : r.name.slice(0, slash),
    shortName: slash < 0 ? r.name : r.name.slice(slash + 1),
    visibility: r.visibility,
    description: r.description,
    fullDescription: r.full_description,
    isOfficial: r.is_official === 1,
    starCount: r.star_count,
    pullCount: r.pull_count,
    lastPushedAt: r.last_pushed_at,
  };
}

/** `library/x` is shown and pulled as `x`. */
export function pullName(name: string): string {
  return name.startsWith('library/') ? name.slice('library/'.length) : name;
}

export function formatSize(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}
