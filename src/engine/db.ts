import type { Generated, Kysely, Migration, Transaction } from 'kysely';
import { openMigratedSqlite } from '../metadata/sqlite.js';

/**
 * The engine's own metadata database (`<root>/engine.db`), apart from the registry's:
 * images by ID (sha256 of the config), their layers, tags and repo digests.
 */
export interface EngineDatabase {
  images: ImagesTable;
  image_layers: ImageLayersTable;
  layers: LayersTable;
  tags: TagsTable;
  repo_digests: RepoDigestsTable;
  layer_sources: LayerSourcesTable;
  containers: ContainersTable;
  volumes: VolumesTable;
}

export interface ImagesTable {
  /** `sha256:…` of the config bytes (Docker's image ID); the config blob has this digest too. */
  id: string;
  /** The config's `created`, ISO 8601 (empty when the config has none). */
  created: string;
  /** Sum of the layers' uncompressed sizes (Docker's SIZE). */
  size: number;
  os: string;
  architecture: string;
  /** When the image entered the store. */
  loaded_at: string;
  last_tag_time: string | null;
  /** Docker's Parent: the image a commit was made from (local knowledge only, never pulled). */
  parent: string | null;
}

export interface ImageLayersTable {
  image_id: string;
  position: number;
  diff_id: string;
  blob_digest: string;
}

/** A compressed layer blob in the content store and what it unpacks to. */
export interface LayersTable {
  blob_digest: string;
  media_type: string;
  size: number;
  diff_id: string;
  /** Docker's DiffSize: the unpacked content (file sizes and symlink targets). */
  diff_size: number;
  /** Bytes of the uncompressed tar (what save writes); null for layers recorded before it was kept. */
  tar_size: number | null;
  created_at: string;
}

export interface TagsTable {
  /** Full normalised name: `docker.io/library/ubuntu`, `127.0.0.1:5000/ns/img`. */
  name: string;
  tag: string;
  image_id: string;
  created_at: string;
}

export interface RepoDigestsTable {
  name: string;
  /** Digest of the manifest (or index) as pulled. */
  digest: string;
  image_id: string;
  created_at: string;
  seq: Generated<number>;
}

/**
 * Where a layer blob is known to exist on a registry (Docker's v2 metadata): recorded on pull
 * and push, so that a push can skip it (`Layer already exists`) or mount it (`Mounted from`).
 * The blob itself need not be in the local store (a loaded layer is pushed gzip-compressed).
 */
export interface LayerSourcesTable {
  /** Registry host as in references: `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Repository path on that registry: `library/ubuntu`. */
  repository: string;
  blob_digest: string;
  diff_id: string;
  media_type: string;
  size: number;
  created_at: string;
}

/** Docker's container states. */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'removing';

/** A container (runtime/): what it was made from, how it runs, and its last known state. */
export interface ContainersTable {
  /** 64 hex digits, as Docker's. */
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  image_id: string;
  /** The image as the user named it (Docker's Config.Image). */
  image_ref: string;
  created: string;
  /** JSON: the container config (Cmd, Entrypoint, Env, WorkingDir, User, Hostname, Tty, OpenStdin, Labels, Volumes). */
  config: string;
  /** JSON: how it runs (mounts, network mode, restart policy, auto-remove). */
  host_config: string;
  status: ContainerStatus;
  /** The container's init process, while running. */
  pid: number | null;
  /** The monitor process looking after it, while it runs or waits to restart. */
  monitor_pid: number | null;
  exit_code: number | null;
  started_at: string | null;
  finished_at: string | null;
  restart_count: number;
  /** Stopped by the user (stop/kill): `unless-stopped` and `always` do not bring it back on restore. */
  stopped_by_user: number;
}

export interface VolumesTable {
  name: string;
  created_at: string;
  /** 1 for a volume made from an image's VOLUME for one container (`rm -v` removes those). */
  anonymous: number;
  /** JSON object. */
  labels: string;
}

export type EngineDb = Kysely<EngineDatabase>;
export type EngineTx = Transaction<EngineDatabase>;

/** Hand-written migrations; never edit one that has shipped, add a new one. */
const migrations: Record<string, Migration> = {
  '0001_engine_images': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('images')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('os', 'text', (c) => c.notNull())
        .addColumn('architecture', 'text', (c) => c.notNull())
        .addColumn('loaded_at', 'text', (c) => c.notNull())
        .addColumn('last_tag_time', 'text')
        .execute();
      await db.schema
        .createTable('layers')
        .addColumn('blob_digest', 'text', (c) => c.primaryKey())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('diff_id', 'text', (c) => c.notNull())
        .addColumn('diff_size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('layers_diff_id').on('layers').column('diff_id').execute();
      await db.schema
        .createTable('image_layers')
        .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('diff_id', 'text', (c) => c.notNull())
        .addColumn('blob_digest', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('image_layers_pk', ['image_id', 'position'])
        .execute();
      await db.schema
        .createTable('tags')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('image_id', 'text', (c) => c.notNull().references('images.id'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['name', 'tag'])
        .execute();
      await db.schema.createIndex('tags_image').on('tags').column('image_id').execute();
      await db.schema
        .createTable('repo_digests')
        .addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('image_id', 'text', (c) => c.notNull().references('images.id'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('repo_digests_name_digest', ['name', 'digest'])
        .execute();
      await db.schema.createIndex('repo_digests_image').on('repo_digests').column('image_id').execute();
    },
  },
  '0002_parents_and_layer_sources': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('images').addColumn('parent', 'text').execute();
      await db.schema.createIndex('images_parent').on('images').column('parent').execute();
      await db.schema
        .createTable('layer_sources')
        .addColumn('registry', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('blob_digest', 'text', (c) => c.notNull())
        .addColumn('diff_id', 'text', (c) => c.notNull())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('layer_sources_pk', ['registry', 'repository', 'blob_digest'])
        .execute();
      await db.schema.createIndex('layer_sources_diff').on('layer_sources').column('diff_id').execute();
    },
  },
  '0003_containers': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('containers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('image_id', 'text', (c) => c.notNull().references('images.id'))
        .addColumn('image_ref', 'text', (c) => c.notNull())
        .addColumn('created', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('host_config', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer')
        .addColumn('monitor_pid', 'integer')
        .addColumn('exit_code', 'integer')
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('restart_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('stopped_by_user', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('containers_image').on('containers').column('image_id').execute();
      await db.schema
        .createTable('volumes')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('anonymous', 'integer', (c) => c.notNull())
        .addColumn('labels', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0004_layer_tar_size': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('layers').addColumn('tar_size', 'bigint').execute();
    },
  },
};

/** Opens (creating and migrating if needed) the engine database. */
export function openEngineDb(file: string): Promise<EngineDb> {
  return openMigratedSqlite<EngineDatabase>(file, migrations, { label: 'engine database', busyTimeoutMs: 10_000 });
}
