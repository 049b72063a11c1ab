import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isLoopbackHost } from '../oci/reference.js';

/** "168h", "30m", "10s", "500ms" or a number of seconds → milliseconds. */
const duration = z
  .union([
    z
      .number()
      .nonnegative()
      .transform((s) => s * 1000),
    z.string(),
  ])
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
    if (!m) {
      ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. 90s, 30m, 168h)` });
      return z.NEVER;
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return Number(m[1]) * unit;
  });

/** "4MiB", "512KB", "1GiB" or a number of bytes → bytes. */
const size = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `invalid size ${JSON.stringify(v)} (use e.g. 4MiB)` });
    return z.NEVER;
  }
  const unit = { B: 1, KB: 1e3, KiB: 1024, MB: 1e6, MiB: 1024 ** 2, GB: 1e9, GiB: 1024 ** 3 }[
    (m[2] ?? 'B') as 'B' | 'KB' | 'KiB' | 'MB' | 'MiB' | 'GB' | 'GiB'
  ];
  return Number(m[1]) * unit;
});

const addr = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT, e.g. 127.0.0.1:5000 or [::1]:5000')
  .refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) <= 65535, 'the port must be between 0 and 65535');

/** A JSON or YAML list from an environment variable (WHARF_NOTIFICATIONS_ENDPOINTS='[{…}]'), as is otherwise. */
const listFromText = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  try {
    return parseYaml(v) as unknown;
  } catch {
    return v;
  }
};

/** A registry-wide notification endpoint (Distribution's `notifications.endpoints`). */
const endpoint = z
  .object({
    name: z.string().min(1),
    url: z.string().regex(/^https?:\/\/[^/]/, 'must be an http:// or https:// URL'),
    /** Extra request headers, e.g. Authorization. */
    headers: z.record(z.string(), z.string()).default({}),
    timeout: duration.default(10_000),
    /** First retry delay; doubled on each failure up to webhooks.max_backoff. */
    backoff: duration.default(1_000),
    /** Actions not sent to this endpoint (push, pull, delete). */
    ignored_actions: z.array(z.enum(['push', 'pull', 'delete'])).default([]),
  })
  .strict();

/** A pull-through cache remote: Docker's registry mirror, or a registry under a prefix. */
const proxyRemote = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be a short lowercase name'),
    url: z.string().regex(/^https?:\/\/[^/]+\/?$/, 'must be http(s)://host[:port]'),
    username: z.string().optional(),
    password: z.string().optional(),
    /** A file holding the password (first line), instead of `password`. */
    password_file: z.string().optional(),
    /** An environment variable holding the password, instead of `password`. */
    password_env: z.string().optional(),
    /** Where the remote appears: `cache/ghcr` serves /v2/cache/ghcr/x/y from the remote's x/y. */
    prefix: z
      .string()
      .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, 'must be a repository path')
      .optional(),
    /** Docker's registry mirror: names without a cache prefix are fetched from this remote on a miss. */
    mirror: z.boolean().default(false),
  })
  .strict()
  .refine((r) => (r.prefix !== undefined) !== r.mirror, 'set either prefix or mirror: true');

export const configSchema = z
  .object({
    http: z
      .object({ addr: addr.default('127.0.0.1:5000') })
      .strict()
      .default({ addr: '127.0.0.1:5000' }),
    storage: z
      .object({
        driver: z.enum(['filesystem', 'memory', 's3']).default('filesystem'),
        root: z.string().min(1).default('./data'),
        delete_enabled: z.boolean().default(true),
        upload_purge_age: duration.default(168 * 3_600_000),
        upload_purge_interval: duration.default(3_600_000),
        /** Blob GETs answer 307 to a presigned URL of the object store (storage.driver s3). */
        redirect: z.boolean().default(false),
        /** storage.driver s3: the bucket; credentials default to the AWS SDK's chain (AWS_ACCESS_KEY_ID, …). */
        s3: z
          .object({
            bucket: z.string().default(''),
            region: z.string().min(1).default('us-east-1'),
            /** For S3-compatible stores (Swift, Ceph, MinIO); empty for AWS. */
            endpoint: z.string().default(''),
            force_path_style: z.boolean().default(false),
            access_key_id: z.string().default(''),
            secret_access_key: z.string().default(''),
            /** Key prefix of every object, so that several registries can share a bucket. */
            prefix: z.string().default(''),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    /** Metadata in PostgreSQL (issue 12): `postgres://user:pass@host:5432/db`; '' keeps SQLite in storage.root. */
    database: z
      .object({
        url: z.string().default(''),
        /** Connections per node in the pool. */
        pool_max: z.number().int().positive().default(10),
        pool_idle_timeout: duration.default(30_000),
        connect_timeout: duration.default(5_000),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        max_manifest_size: size.default(4 * 1024 * 1024),
        catalog_max_entries: z.number().int().positive().default(1000),
        tags_max_entries: z.number().int().positive().default(1000),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        mode: z.enum(['none', 'htpasswd', 'token']).default('token'),
        /** `none` on a non-loopback address must be asked for explicitly. */
        allow_none_on_network: z.boolean().default(false),
        htpasswd_file: z.string().default(''),
        /** The token endpoint URL given to clients; by default /token on the address the client used. */
        realm: z.string().default(''),
        service: z.string().min(1).default('wharf'),
        issuer: z.string().min(1).default('wharf'),
        token_ttl: duration.default(300_000),
        refresh_token_ttl: duration.default(90 * 86_400_000),
        /** Whether accounts may create repositories outside their own namespace (admins always may). */
        allow_top_level: z.boolean().default(false),
        default_visibility: z.enum(['public', 'private']).default('public'),
        max_login_failures: z.number().int().positive().default(10),
        login_failure_window: duration.default(300_000),
      })
      .strict()
      .prefault({}),
    tls: z
      .object({
        cert: z.string().default(''),
        key: z.string().default(''),
      })
      .strict()
      .prefault({}),
    notifications: z
      .object({
        endpoints: z
          .preprocess(listFromText, z.array(endpoint))
          .default([])
          .refine((eps) => new Set(eps.map((e) => e.name)).size === eps.length, 'endpoint names must be unique'),
      })
      .strict()
      .prefault({}),
    /** Repository webhooks and the delivery queue they share with the notification endpoints. */
    webhooks: z
      .object({
        /** Whether webhook targets may be loopback, link-local or private addresses. */
        allow_private_targets: z.boolean().default(false),
        timeout: duration.default(10_000),
        /** First retry delay; each failure doubles it, up to max_backoff. */
        backoff: duration.default(1_000),
        max_backoff: duration.default(3_600_000),
        /** Attempts before a delivery is marked failed. */
        max_attempts: z.number().int().positive().default(10),
        /** How often the queue is checked for due deliveries. */
        poll_interval: duration.default(30_000),
      })
      .strict()
      .prefault({}),
    /** Retention policies (docs/storage-lifecycle.md): how often the server applies them. */
    retention: z
      .object({
        /** 0 turns the schedule off (runs on demand only). */
        interval: duration.default(3_600_000),
      })
      .strict()
      .prefault({}),
    /** Online garbage collection (docs/garbage-collection.md). */
    gc: z
      .object({
        enabled: z.boolean().default(true),
        /** How long something that may have become garbage waits before it is reviewed. */
        review_delay: duration.default(24 * 3_600_000),
        /** Delete manifests that no tag reaches (never one an index or a referrer still needs). */
        delete_untagged: z.boolean().default(true),
        /** How often the worker looks for due items. */
        interval: duration.default(60_000),
      })
      .strict()
      .prefault({}),
    /** Pull-through cache (docs/pull-through-cache.md). */
    proxy: z
      .object({
        remotes: z
          .preprocess(listFromText, z.array(proxyRemote))
          .default([])
          .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'remote names must be unique')
          .refine((rs) => rs.filter((r) => r.mirror).length <= 1, 'at most one mirror remote'),
        /** A cached tag is rechecked at the remote (HEAD) when it is older than this. */
        tag_ttl: duration.default(300_000),
        /** Cached content kept at most (0: no limit); eviction runs with GC, least recently pulled first. */
        max_bytes: z.union([z.literal(0), size]).default(0),
        /** Cached content not pulled for this many days is evicted (0: never; fractions allowed: 0.5 is 12 hours). */
        keep_days: z.number().nonnegative().default(0),
      })
      .strict()
      .prefault({}),
    /** The hub API (/api). */
    api: z
      .object({
        /** Requests per window and per client address; 0 turns the limit off. */
        rate_limit: z.number().int().nonnegative().default(600),
        rate_limit_window: duration.default(60_000),
        /** Administrators (signed in with their password or an admin-scoped access token) are not limited. */
        rate_limit_exempt_admins: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** auto: text on a terminal, JSON lines otherwise (a file, a pipe, journald). */
        format: z.enum(['auto', 'json', 'text']).default('auto'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Tree = Record<string, unknown>;

/** The schema without its default/prefault wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault) inner = inner.unwrap() as z.ZodType;
  return inner;
}

/** Every leaf key of the schema as a path, e.g. ['storage', 'delete_enabled']. */
function leafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  }
  return [prefix];
}

/** A key of the configuration: its dotted name, its variable, and what kind of value it takes. */
export interface ConfigKey {
  key: string;
  path: string[];
  variable: string;
  kind: 'duration' | 'size' | 'other';
}

/** Every key of the schema (whatever its sections), in schema order. */
export function configKeys(): ConfigKey[] {
  return leafPaths(configSchema).map((path) => {
    let leaf: z.ZodType = configSchema;
    for (const k of path) leaf = (unwrap(leaf) as z.ZodObject).shape[k] as z.ZodType;
    const inner = unwrap(leaf);
    const kind = inner === duration ? 'duration' : inner === size ? 'size' : 'other';
    return { key: path.join('.'), path, variable: envName(path), kind };
  });
}

/**
 * WHARF_ variables that are not configuration keys, and so are not refused as typos: the
 * image tool's, the file's name, the first admin's password, and the test suite's own.
 * A new one must be added here.
 */
export const OTHER_WHARF_VARIABLES: Record<string, string> = {
  WHARF_CONFIG: 'the configuration file (as --config)',
  WHARF_ADMIN_PASSWORD: "the first admin account's password (generated when unset)",
  WHARF_ROOT: "the image tool's local store (as --root)",
  WHARF_CONFIG_DIR: "the image tool's client configuration directory (~/.wharf)",
  WHARF_DAEMON_CONFIG: "the image tool's registry settings file",
  WHARF_RUNC: 'the runc binary for containers',
  WHARF_ROOTFS: 'container root file systems: overlay or copy',
  WHARF_RUN_DIR: 'container attach sockets (/run/wharf)',
  WHARF_REQUIRE_INTEROP: 'tests: a missing interop tool fails instead of skipping',
  WHARF_INTEROP: 'tests: skip means no interop test runs',
  WHARF_DOCKER_STORAGE_DRIVER: "tests: the test Docker engine's storage driver",
  WHARF_CRASH_SEED: 'tests: the crash test seed',
  WHARF_TEST_DATABASE: 'tests: postgres puts the test servers on PostgreSQL (npm run test:postgres)',
  WHARF_TEST_PG_URL: "tests: the PostgreSQL test cluster's admin URL",
  WHARF_TEST_STORAGE: "tests: s3 puts the test servers' blobs on S3 (the postgres+s3 project of npm run test:postgres)",
  WHARF_TEST_S3_ENDPOINT: "tests: the Swift test store's S3 endpoint",
  WHARF_PG_BIN: "tests: PostgreSQL's binaries (initdb, pg_ctl)",
};

/** Edit distance (Levenshtein) between two short strings. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** The candidate nearest to `word`, when near enough to be what was meant. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

const didYouMean = (suggestion: string | undefined) => (suggestion ? ` (did you mean ${suggestion}?)` : '');

/** Keys in the file that the schema does not have, each with the nearest valid key. */
function unknownFileKeys(tree: Tree, keys: string[], file: string, prefix: string[] = []): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(tree)) {
    const path = [...prefix, k].join('.');
    if (keys.includes(path)) continue;
    const section = keys.some((key) => key.startsWith(`${path}.`));
    if (section && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      problems.push(...unknownFileKeys(v as Tree, keys, file, [...prefix, k]));
    } else if (!section) {
      // Sections are candidates too: `weebhooks:` means `webhooks:`.
      const names = [...new Set(keys.flatMap((key) => key.split('.').map((_, i, a) => a.slice(0, i + 1).join('.'))))];
      problems.push(`unknown key ${path} in ${file}${didYouMean(closest(path, names))}`);
    }
  }
  return problems;
}

/** WHARF_ variables that are neither a key's variable nor one of OTHER_WHARF_VARIABLES. */
function unknownVariables(env: NodeJS.ProcessEnv, variables: string[]): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('WHARF_') && !variables.includes(name) && !(name in OTHER_WHARF_VARIABLES))
    .sort()
    .map(
      (name) =>
        `unknown variable ${name}${didYouMean(closest(name, [...variables, ...Object.keys(OTHER_WHARF_VARIABLES)]))}`,
    );
}

/** The environment variable that overrides a key: WHARF_ + the path in capitals, e.g. WHARF_STORAGE_DELETE_ENABLED. */
export function envName(path: string[]): string {
  return `WHARF_${path.join('_').toUpperCase()}`;
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1] as string] = value;
}

/**
 * An environment value read as a YAML scalar, so that "true", "1000" and "4MiB" mean what they
 * say; anything that is not a plain scalar (e.g. "[::1]:5000") stays the string it is.
 */
function envValue(value: string): unknown {
  try {
    const parsed: unknown = parseYaml(value);
    return parsed === null || typeof parsed === 'object' ? value : parsed;
  } catch {
    return value;
  }
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flags from the command line, applied last: paths like ['http','addr'], and the flag's name for messages. */
  overrides?: [string[], unknown, string?][];
}

/** Where a value came from: `default`, `file`, `variable WHARF_…` or `flag --…`. */
export type ConfigSources = Map<string, string>;

/** The configuration with, for every key, where its value came from (for `wharf config check`). */
export interface LoadedConfig {
  config: Config;
  sources: ConfigSources;
  file: string | undefined;
}

/** Whether the tree has a value at `path`. */
function hasPath(tree: Tree, path: string[]): boolean {
  let node: unknown = tree;
  for (const k of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !(k in node)) return false;
    node = (node as Tree)[k];
  }
  return true;
}

/**
 * Builds the configuration: defaults, then the YAML file, then WHARF_… variables, then flags.
 * Any unknown key or variable, or bad value, is an error naming it.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  return loadConfigWithSources(options).config;
}

export function loadConfigWithSources(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.WHARF_CONFIG;
  const keys = configKeys();
  let tree: Tree = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed))
        throw new ConfigError(`config file ${file} must be a mapping`);
      tree = parsed as Tree;
    }
  }
  const unknown = [
    ...unknownFileKeys(
      tree,
      keys.map((k) => k.key),
      file ?? 'the file',
    ),
    ...unknownVariables(
      env,
      keys.map((k) => k.variable),
    ),
  ];
  if (unknown.length > 0) throw new ConfigError(`invalid configuration:\n${unknown.map((u) => `✖ ${u}`).join('\n')}`);
  const sources: ConfigSources = new Map();
  for (const { key, path } of keys) sources.set(key, hasPath(tree, path) ? 'file' : 'default');
  for (const { key, path, variable } of keys) {
    const value = env[variable];
    if (value === undefined) continue;
    setPath(tree, path, envValue(value));
    sources.set(key, `variable ${variable}`);
  }
  for (const [path, value, flag] of options.overrides ?? []) {
    setPath(tree, path, value);
    sources.set(path.join('.'), flag ? `flag ${flag}` : 'flag');
  }
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const at = issue.path.map(String).join('.');
      const source = [...sources].find(([key]) => at === key || at.startsWith(`${key}.`))?.[1];
      const from = source && source !== 'default' ? ` (${source === 'file' ? file : source})` : '';
      return `✖ ${issue.message}\n  → at ${at || 'the top level'}${from}`;
    });
    throw new ConfigError(`invalid configuration${file ? ` (${file})` : ''}:\n${issues.join('\n')}`);
  }
  const config = result.data;
  const host = config.http.addr.slice(0, config.http.addr.lastIndexOf(':'));
  if (config.auth.mode === 'none' && !isLoopbackHost(host) && !config.auth.allow_none_on_network) {
    throw new ConfigError(
      `auth.mode none lets anyone push and delete: it is allowed only on a loopback address, not ${config.http.addr}. ` +
        'Use auth.mode token or htpasswd, listen on 127.0.0.1, or set auth.allow_none_on_network: true if you really mean it.',
    );
  }
  if (config.storage.driver === 's3' && config.storage.s3.bucket === '') {
    throw new ConfigError('storage.driver s3 needs storage.s3.bucket (or WHARF_STORAGE_S3_BUCKET)');
  }
  return { config: { ...config, storage: { ...config.storage, root: resolve(config.storage.root) } }, sources, file };
}
