// Named and anonymous volumes: directories under <root>/volumes that containers bind-mount.
// Their contents never go into commits or exports (they are mounts, not part of the upper layer).
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DaemonError } from '../images.js';
import type { LocalStore } from '../store.js';
import { containerLayout } from './layout.js';
import { listContainers } from './records.js';

export interface Volume {
  name: string;
  createdAt: string;
  anonymous: boolean;
  labels: Record<string, string>;
  mountpoint: string;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkVolumeName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new DaemonError(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

/** Creates a volume (an existing name is returned as it is, as Docker does); anonymous ones get a random name. */
export async function createVolume(
  store: LocalStore,
  options: { name?: string; anonymous?: boolean; labels?: Record<string, string> } = {},
): Promise<Volume> {
  const name = options.name ?? randomBytes(32).toString('hex');
  checkVolumeName(name);
  const existing = await getVolume(store, name).catch(() => undefined);
  if (existing) return existing;
  const createdAt = new Date().toISOString();
  await mkdir(containerLayout.volume(store.root, name), { recursive: true, mode: 0o755 });
  await store.db
    .insertInto('volumes')
    .values({
      name,
      created_at: createdAt,
      anonymous: options.anonymous ? 1 : 0,
      labels: JSON.stringify(options.labels ?? {}),
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return getVolume(store, name);
}

export async function getVolume(store: LocalStore, name: string): Promise<Volume> {
  const row = await store.db.selectFrom('volumes').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw new DaemonError(`get ${name}: no such volume`);
  return {
    name: row.name,
    createdAt: row.created_at,
    anonymous: row.anonymous === 1,
    labels: JSON.parse(row.labels) as Record<string, string>,
    mountpoint: containerLayout.volume(store.root, row.name),
  };
}

export async function listVolumes(store: LocalStore): Promise<Volume[]> {
  const rows = await store.db.selectFrom('volumes').select('name').orderBy('name').execute();
  return Promise.all(rows.map((r) => getVolume(store, r.name)));
}

/** IDs of the containers that mount each volume. */
export async function volumeUsers(store: LocalStore): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const c of await listContainers(store.db)) {
    for (const m of c.hostConfig.Mounts) {
      if (m.Type === 'volume' && m.Name) users.set(m.Name, [...(users.get(m.Name) ?? []), c.id]);
    }
  }
  return users;
}

/** Removes a volume unless a container uses it (Docker's message). */
export async function removeVolume(store: LocalStore, name: string, options: { force?: boolean } = {}): Promise<void> {
  const volume = await getVolume(store, name).catch((err: unknown) => {
    if (options.force) return undefined;
    throw err;
  });
  if (!volume) return;
  const users = (await volumeUsers(store)).get(name) ?? [];
  if (users.length > 0) throw new DaemonError(`remove ${name}: volume is in use - [${users.join(', ')}]`);
  await rm(dirname(volume.mountpoint), { recursive: true, force: true });
  await store.db.deleteFrom('volumes').where('name', '=', name).execute();
}
