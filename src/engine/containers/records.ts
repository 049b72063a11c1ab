// Container records in the engine database: creation, Docker's lookup by ID, name or ID prefix,
// and state updates. Nothing here starts a process.
import { randomBytes } from 'node:crypto';
import type { ContainerConfig } from '../changes.js';
import type { ContainerStatus, EngineDb } from '../db.js';
import { DaemonError } from '../images.js';
import type { RootfsMode } from './rootfs-mode.js';

/** The container config: Docker's container.Config, the same shape as an image's `config`. */
export type { ContainerConfig };

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'on-failure' | 'unless-stopped';
  MaximumRetryCount: number;
}

/** A volume or bind mount of a container. */
export interface MountPoint {
  Type: 'volume' | 'bind';
  /** Volume name (volumes only). */
  Name?: string;
  /** Host path. */
  Source: string;
  Destination: string;
  RW: boolean;
  /** A volume made for this container alone (from the image's VOLUME, or `-v /path`). */
  Anonymous?: boolean;
}

export interface HostConfig {
  /** Overlay mount, or a copied root where overlay does not work (see rootfs-mode.ts); absent means overlay. */
  RootfsMode?: RootfsMode;
  NetworkMode: 'none' | 'host';
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  Mounts: MountPoint[];
}

export interface Container {
  id: string;
  name: string;
  imageId: string;
  imageRef: string;
  created: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  status: ContainerStatus;
  pid: number | null;
  monitorPid: number | null;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  restartCount: number;
  stoppedByUser: boolean;
}

/** Running, paused, or between two runs of its restart policy: a monitor looks after it. */
export function isActive(c: { status: ContainerStatus }): boolean {
  return c.status === 'running' || c.status === 'restarting' || c.status === 'paused';
}

export class NoSuchContainerError extends DaemonError {
  constructor(ref: string) {
    super(`No such container: ${ref}`);
  }
}

type Row = Awaited<ReturnType<typeof selectAll>>[number];

function selectAll(db: EngineDb) {
  return db.selectFrom('containers').selectAll().execute();
}

function fromRow(row: Row): Container {
  return {
    id: row.id,
    name: row.name,
    imageId: row.image_id,
    imageRef: row.image_ref,
    created: row.created,
    config: JSON.parse(row.config) as ContainerConfig,
    hostConfig: JSON.parse(row.host_config) as HostConfig,
    status: row.status,
    pid: row.pid,
    monitorPid: row.monitor_pid,
    exitCode: row.exit_code,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    restartCount: row.restart_count,
    stoppedByUser: row.stopped_by_user === 1,
  };
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const ADJECTIVES = ['admiring', 'brave', 'clever', 'dreamy', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen'];
const SURNAMES = [
  'babbage',
  'curie',
  'darwin',
  'euler',
  'feynman',
  'galois',
  'hopper',
  'lovelace',
  'noether',
  'turing',
];

/** A Docker-style random name (`jolly_noether`), with a number when taken. */
async function generateName(db: EngineDb): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const [a, b] = randomBytes(2);
    const base = `${ADJECTIVES[(a as number) % ADJECTIVES.length]}_${SURNAMES[(b as number) % SURNAMES.length]}`;
    const name = attempt < 5 ? base : `${base}${attempt}`;
    const taken = await db.selectFrom('containers').select('id').where('name', '=', name).executeTakeFirst();
    if (!taken) return name;
  }
}

export interface NewContainer {
  name?: string;
  imageId: string;
  imageRef: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
}

/** Records a new container in state `created`; checks the name as Docker does. */
export async function insertContainer(db: EngineDb, spec: NewContainer): Promise<Container> {
  const id = randomBytes(32).toString('hex');
  let name = spec.name;
  if (name !== undefined) {
    name = name.replace(/^\//, '');
    if (!NAME_RE.test(name)) {
      throw new DaemonError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const taken = await db.selectFrom('containers').select('id').where('name', '=', name).executeTakeFirst();
    if (taken) {
      throw new DaemonError(
        `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
  } else name = await generateName(db);
  const created = new Date().toISOString();
  await db
    .insertInto('containers')
    .values({
      id,
      name,
      image_id: spec.imageId,
      image_ref: spec.imageRef,
      created,
      config: JSON.stringify({ ...spec.config, Hostname: spec.config.Hostname || id.slice(0, 12) }),
      host_config: JSON.stringify(spec.hostConfig),
      status: 'created',
      pid: null,
      monitor_pid: null,
      exit_code: null,
      started_at: null,
      finished_at: null,
      restart_count: 0,
      stopped_by_user: 0,
    })
    .execute();
  return getContainer(db, id);
}

/** Docker's lookup: full ID, then name, then a unique ID prefix. */
export async function getContainer(db: EngineDb, ref: string): Promise<Container> {
  const name = ref.replace(/^\//, '');
  const exact = await db
    .selectFrom('containers')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', name)]))
    .execute();
  const byId = exact.find((r) => r.id === ref) ?? exact[0];
  if (byId) return fromRow(byId);
  if (/^[a-f0-9]+$/.test(ref)) {
    const rows = await db.selectFrom('containers').selectAll().where('id', 'like', `${ref}%`).limit(2).execute();
    if (rows.length > 1) throw new DaemonError(`multiple IDs found with provided prefix: ${ref}`);
    if (rows[0]) return fromRow(rows[0]);
  }
  throw new NoSuchContainerError(ref);
}

/** Every container, newest first. */
export async function listContainers(db: EngineDb): Promise<Container[]> {
  const rows = await db.selectFrom('containers').selectAll().orderBy('created', 'desc').execute();
  return rows.map(fromRow);
}

export interface StatePatch {
  status?: ContainerStatus;
  pid?: number | null;
  monitorPid?: number | null;
  exitCode?: number | null;
  startedAt?: string | null;
  finishedAt?: string | null;
  restartCount?: number;
  stoppedByUser?: boolean;
}

export async function updateContainer(db: EngineDb, id: string, patch: StatePatch): Promise<void> {
  const set: Partial<Row> = {};
  if (patch.status !== undefined) set.status = patch.status;
  if (patch.pid !== undefined) set.pid = patch.pid;
  if (patch.monitorPid !== undefined) set.monitor_pid = patch.monitorPid;
  if (patch.exitCode !== undefined) set.exit_code = patch.exitCode;
  if (patch.startedAt !== undefined) set.started_at = patch.startedAt;
  if (patch.finishedAt !== undefined) set.finished_at = patch.finishedAt;
  if (patch.restartCount !== undefined) set.restart_count = patch.restartCount;
  if (patch.stoppedByUser !== undefined) set.stopped_by_user = patch.stoppedByUser ? 1 : 0;
  if (Object.keys(set).length === 0) return;
  await db.updateTable('containers').set(set).where('id', '=', id).execute();
}

export async function deleteContainerRecord(db: EngineDb, id: string): Promise<void> {
  await db.deleteFrom('containers').where('id', '=', id).execute();
}
