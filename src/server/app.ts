import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import pino, { type Logger } from 'pino';
import { AccessPolicy } from '../auth/access.js';
import { ensureAdmin } from '../auth/bootstrap.js';
import { Htpasswd } from '../auth/htpasswd.js';
import { LoginThrottle } from '../auth/throttle.js';
import { TokenService } from '../auth/tokens.js';
import { DATABASE_FILE, type MetadataDb, openSqlite } from '../metadata/db.js';
import type { RegistryContext } from '../registry/context.js';
import { Uploads } from '../registry/uploads.js';
import { createDriver } from '../storage/factory.js';
import {
  type Authorizer,
  htpasswdAuthorizer,
  openAuthorizer,
  type TokenAuthDeps,
  tokenAuthorizer,
  tokenRoutes,
} from './auth.js';
import { type Config, ConfigError } from './config.js';
import { Metrics, routeLabel } from './metrics.js';
import { v2Routes } from './v2.js';

export interface WharfServer {
  app: FastifyInstance;
  ctx: RegistryContext;
  uploads: Uploads;
  metrics: Metrics;
  /** Stops accepting requests, stops the purge timer, closes the database. */
  close(): Promise<void>;
}

/** A pino logger writing JSON lines, or short human lines for `log.format: text`. */
export function createLogger(config: Config['log']): Logger {
  if (config.format === 'json') return pino({ level: config.level });
  const text = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const { time, level, msg, ...rest } = JSON.parse(chunk.toString()) as Record<string, unknown>;
      delete rest.pid;
      delete rest.hostname;
      const fields = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      const name = pino.levels.labels[Number(level)] ?? String(level);
      process.stderr.write(
        `${new Date(Number(time)).toISOString()} ${name.toUpperCase()} ${String(msg ?? '')} ${fields}\n`,
      );
      cb();
    },
  });
  return pino({ level: config.level }, text);
}

/** TLS from `tls.cert`/`tls.key` (PEM files); plain HTTP when neither is set. */
async function httpsOptions(config: Config): Promise<{ https?: { cert: Buffer; key: Buffer } }> {
  const { cert, key } = config.tls;
  if (!cert && !key) return {};
  if (!cert || !key) throw new ConfigError('tls.cert and tls.key must be set together');
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new ConfigError(`cannot read TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return { https: { cert: await read(cert, 'certificate'), key: await read(key, 'key') } };
}

/** The authorizer of `auth.mode`, and for token mode what the token endpoint needs. */
async function createAuthorizer(
  config: Config,
  db: MetadataDb,
  logger: Logger,
): Promise<{ authorizer: Authorizer; tokenDeps?: TokenAuthDeps }> {
  const { auth } = config;
  const throttle = new LoginThrottle({ maxFailures: auth.max_login_failures, windowMs: auth.login_failure_window });
  switch (auth.mode) {
    case 'none':
      return { authorizer: openAuthorizer };
    case 'htpasswd': {
      if (!auth.htpasswd_file) throw new ConfigError('auth.mode htpasswd needs auth.htpasswd_file');
      const file = new Htpasswd(auth.htpasswd_file, (msg) => logger.warn(msg));
      return { authorizer: htpasswdAuthorizer(file, throttle) };
    }
    case 'token': {
      const onDisk = config.storage.driver === 'filesystem';
      await ensureAdmin(db, {
        ...(onDisk ? { dataDir: config.storage.root } : {}),
        ...(process.env.WHARF_ADMIN_PASSWORD ? { password: process.env.WHARF_ADMIN_PASSWORD } : {}),
        log: (msg) => logger.warn(msg),
      });
      const tokens = await TokenService.open(
        onDisk ? join(config.storage.root, 'auth', 'token-signing-key.json') : undefined,
        {
          issuer: auth.issuer,
          service: auth.service,
          ttlMs: auth.token_ttl,
        },
      );
      const tokenDeps: TokenAuthDeps = {
        db,
        tokens,
        policy: new AccessPolicy(db, { allowTopLevel: auth.allow_top_level }),
        throttle,
        service: auth.service,
        realm: auth.realm,
        refreshTtlMs: auth.refresh_token_ttl,
      };
      return { authorizer: tokenAuthorizer(tokenDeps), tokenDeps };
    }
  }
}

/** Assembles the registry server: storage, metadata, the /v2 API, health and metrics. */
export async function buildServer(config: Config, logger: Logger = createLogger(config.log)): Promise<WharfServer> {
  const storage =
    config.storage.driver === 'memory'
      ? createDriver({ driver: 'memory' })
      : createDriver({ driver: 'filesystem', root: config.storage.root });
  const db = await openSqlite(config.storage.driver === 'memory' ? ':memory:' : join(config.storage.root, DATABASE_FILE));
  const ctx: RegistryContext = {
    db,
    storage,
    options: {
      deleteEnabled: config.storage.delete_enabled,
      maxManifestSize: config.limits.max_manifest_size,
      catalogMaxEntries: config.limits.catalog_max_entries,
      tagsMaxEntries: config.limits.tags_max_entries,
      uploadPurgeAge: config.storage.upload_purge_age,
      defaultVisibility: config.auth.default_visibility,
    },
  };
  const authorizer = await createAuthorizer(config, db, logger);
  const uploads = new Uploads(ctx);
  const metrics = new Metrics(() => uploads.active);
  metrics.bytesReceived = () => uploads.bytesReceived;

  const app = Fastify({
    ...(await httpsOptions(config)),
    loggerInstance: logger as FastifyBaseLogger,
    // One log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // Uploads can take long; a slow client must not be cut off by a request timeout.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: false,
  });

  app.addHook('onRequest', async (_req, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  });
  app.addHook('onResponse', async (req, reply) => {
    const seconds = reply.elapsedTime / 1000;
    metrics.observe(routeLabel(req.raw), req.method, reply.statusCode, seconds);
    if (req.method !== 'HEAD') metrics.bytesOut += Number(reply.getHeader('content-length') ?? 0);
    req.log.info(
      { method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  app.get('/healthz', async (_req, reply) => {
    await db.selectFrom('repositories').select('id').limit(1).execute();
    reply.header('Content-Type', 'application/json').send('{"status":"ok"}');
  });
  app.head('/healthz', async (_req, reply) => reply.send());
  app.get('/metrics', async (_req, reply) => {
    reply.header('Content-Type', 'text/plain; version=0.0.4').send(metrics.render());
  });
  await app.register(async (v2) => v2Routes(v2, { ctx, uploads, authorizer: authorizer.authorizer }));
  const { tokenDeps } = authorizer;
  if (tokenDeps) await app.register(async (token) => tokenRoutes(token, tokenDeps));

  // Abandoned upload sessions: purged at start, then periodically.
  const purge = () =>
    uploads.purge().then(
      (n) => n > 0 && logger.info({ purged: n }, 'purged abandoned upload sessions'),
      (err: unknown) => logger.error({ err }, 'upload purge failed'),
    );
  await purge();
  const timer = setInterval(purge, config.storage.upload_purge_interval);
  timer.unref();

  return {
    app,
    ctx,
    uploads,
    metrics,
    async close() {
      clearInterval(timer);
      await app.close();
      await db.destroy();
    },
  };
}
