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

const addr = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT');

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

export const configSchema = z
  .object({
    http: z
      .object({ addr: addr.default('127.0.0.1:5000') })
      .strict()
      .default({ addr: '127.0.0.1:5000' }),
    storage: z
      .object({
        driver: z.enum(['filesystem', 'memory']).default('filesystem'),
        root: z.string().min(1).default('./data'),
        delete_enabled: z.boolean().default(true),
        upload_purge_age: duration.default(168 * 3_600_000),
        upload_purge_interval: duration.default(3_600_000),
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
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        format: z.enum(['json', 'text']).default('json'),
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

/** Every leaf key of the schema as a path, e.g. ['storage', 'delete_enabled']. */
function leafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault) inner = inner.unwrap() as z.ZodType;
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodType>).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  }
  return [prefix];
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
  /** Flags from the command line, applied last: paths like ['http','addr']. */
  overrides?: [string[], unknown][];
}

/**
 * Builds the configuration: defaults, then the YAML file, then WHARF_… variables, then flags.
 * Any unknown key or bad value is an error naming the key.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.WHARF_CONFIG;
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
  for (const path of leafPaths(configSchema)) {
    const value = env[envName(path)];
    if (value !== undefined) setPath(tree, path, envValue(value));
  }
  for (const [path, value] of options.overrides ?? []) setPath(tree, path, value);
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    throw new ConfigError(`invalid configuration${file ? ` (${file})` : ''}:\n${z.prettifyError(result.error)}`);
  }
  const config = result.data;
  const host = config.http.addr.slice(0, config.http.addr.lastIndexOf(':'));
  if (config.auth.mode === 'none' && !isLoopbackHost(host) && !config.auth.allow_none_on_network) {
    throw new ConfigError(
      `auth.mode none lets anyone push and delete: it is allowed only on a loopback address, not ${config.http.addr}. ` +
        'Use auth.mode token or htpasswd, listen on 127.0.0.1, or set auth.allow_none_on_network: true if you really mean it.',
    );
  }
  return { ...config, storage: { ...config.storage, root: resolve(config.storage.root) } };
}
