import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { createStorageQuota } from '../hub/quotas.js';
import { metadataLocation, openMetadata } from '../metadata/db.js';
import type { RegistryContext } from '../registry/context.js';
import { type GcScheduler, scheduleGc } from '../registry/gc.js';
import { ManifestCache } from '../registry/manifest-cache.js';
import { Uploads } from '../registry/uploads.js';
import type { StorageDriver } from '../storage/driver.js';
import { createDriver } from '../storage/factory.js';
import { registerApi } from './api/index.js';
import { DEFAULT_API_OPTIONS } from './api/plumbing.js';
import { openAuthorizer } from './authorizer.js';
import type { Config } from './config.js';
import { UNAVAILABLE_RETRY_AFTER, unavailableError } from './errors.js';
import { gcMetricLines, gcOptions } from './gc-status.js';
import { renderStorageMetrics, storageSpace } from './health.js';
import { startHubEvents } from './hub-events.js';
import { startRetentionSchedule } from './lifecycle.js';
import { createLogger } from './logger.js';
import { Metrics, routeLabel } from './metrics.js';
import { searchRoutes } from './search.js';
import { storageMetrics } from './storage-metrics.js';
import { httpsOptions } from './tls.js';
import { v2Routes } from './v2/dispatch.js';

export interface WharfServer {
  app: FastifyInstance;
  ctx: RegistryContext;
  uploads: Uploads;
  metrics: Metrics;
  /** The garbage collector's schedule (undefined when gc.enabled is false). */
  gc?: GcScheduler;
  /** Stops accepting requests, stops the purge timer, closes the database. */
  close(): Promise<void>;
}

/** The blob store the configuration names (the server's, and `wharf gc`/`fsck`'s on its data). */
export function openStorage(config: Config): Promise<StorageDriver> {
  const s3 = config.storage.s3;
  if (config.storage.driver === 'memory') return createDriver({ driver: 'memory' });
  if (config.storage.driver === 'filesystem') return createDriver({ driver: 'filesystem', root: config.storage.root });
  return createDriver({
    driver: 's3',
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint || undefined,
    forcePathStyle: s3.force_path_style,
    accessKeyId: s3.access_key_id || undefined,
    secretAccessKey: s3.secret_access_key || undefined,
    prefix: s3.prefix || undefined,
  });
}

/** The registry's rules as the configuration sets them (the server's, and `wharf gc`/`fsck`'s). */
export function registryOptions(config: Config): RegistryContext['options'] {
  return {
    deleteEnabled: config.storage.delete_enabled,
    maxManifestSize: config.limits.max_manifest_size,
    catalogMaxEntries: config.limits.catalog_max_entries,
    tagsMaxEntries: config.limits.tags_max_entries,
    uploadPurgeAge: config.storage.upload_purge_age,
    defaultVisibility: config.auth.default_visibility,
    gcReviewDelay: config.gc.review_delay,
    sharedUploads: config.storage.driver === 's3',
    redirect: config.storage.redirect,
  };
}

/** Assembles the registry server: storage, metadata, the /v2 API, health and metrics. */
export async function buildServer(config: Config, logger: Logger = createLogger(config.log)): Promise<WharfServer> {
  const storage = await openStorage(config);
  const db = await openMetadata(metadataLocation(config));
  const ctx: RegistryContext = {
    db,
    storage,
    options: registryOptions(config),
    manifestCache: new ManifestCache(),
  };
  const hubEvents = startHubEvents(config, ctx, logger);
  // Storage quotas of the namespaces' plans, checked by the registry before a write adds bytes.
  ctx.quota = createStorageQuota();
  // Access control (jose, argon2…) is loaded only when it is used.
  const authorizer =
    config.auth.mode === 'none'
      ? { authorizer: openAuthorizer }
      : await (await import('./auth.js')).createAuthorizer(config, db, logger);
  const uploads = new Uploads(ctx);
  const metrics = new Metrics(() => uploads.active);
  // Pull-through cache remotes (docs/pull-through-cache.md); the registry client (undici) is
  // loaded only when there are some, to keep a plain registry's memory small.
  const proxy = config.proxy.remotes.length > 0 ? await openProxy(config, ctx, logger) : undefined;
  if (proxy) metrics.extra = () => proxy.remotes.renderMetrics();
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
    // A stop (SIGTERM) closes every connection at once instead of waiting for keep-alive
    // clients: interrupted uploads resume from what reached the disk.
    forceCloseConnections: true,
  });

  // The routes of no surface of their own (/metrics): 503 too when the database or the store is gone.
  app.setErrorHandler((err, req, reply) => {
    const down = unavailableError(err);
    if (!down) throw err;
    req.log.warn({ err }, 'request failed: a service is unavailable');
    reply.code(503).header('Retry-After', UNAVAILABLE_RETRY_AFTER).header('Content-Type', 'application/json');
    return reply.send(JSON.stringify({ error: down.message }));
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

  // The data directory's free space (filesystem driver); a full disk is reported, not fatal.
  const space = () => (config.storage.driver === 'memory' ? undefined : storageSpace(config.storage.root));
  app.get('/healthz', async (_req, reply) => {
    try {
      await db.selectFrom('repositories').select('id').limit(1).execute();
    } catch (err) {
      // A load balancer takes this node out while its database is unreachable.
      const down = unavailableError(err);
      if (!down) throw err;
      reply.code(503).header('Content-Type', 'application/json');
      return reply.send(JSON.stringify({ status: 'unavailable', error: down.message }));
    }
    const s = await space();
    const storage = s ? { storage: s.low ? 'low' : 'ok', storage_free_bytes: s.freeBytes } : {};
    reply.header('Content-Type', 'application/json').send(JSON.stringify({ status: 'ok', ...storage }));
  });
  app.head('/healthz', async (_req, reply) => reply.send());
  const storageLinesOf = storageMetrics(db);
  app.get('/metrics', async (_req, reply) => {
    const s = await space();
    const storageLines = await storageLinesOf();
    reply
      .header('Content-Type', 'text/plain; version=0.0.4')
      .send(metrics.render() + (s ? renderStorageMetrics(s) : '') + storageLines + (await gcMetricLines(ctx, config)));
  });
  await app.register(async (v2) => v2Routes(v2, { ctx, uploads, authorizer: authorizer.authorizer, proxy }));
  const { tokenDeps } = authorizer;
  if (tokenDeps) {
    const { tokenRoutes } = await import('./token.js');
    await app.register(async (token) => tokenRoutes(token, tokenDeps));
  }
  // docker search's v1 index endpoints, over the repositories the caller may pull.
  await app.register(async (v1) =>
    searchRoutes(v1, { db, authorizer: authorizer.authorizer, ...(tokenDeps ? { tokenDeps } : {}) }),
  );
  // The web UI needs accounts: it exists in token mode.
  if (tokenDeps) {
    const { uiRoutes } = await import('./ui/plugin.js');
    await app.register(async (ui) =>
      uiRoutes(ui, {
        db,
        storage,
        auth: tokenDeps,
        secure: config.tls.cert !== '',
        allowPrivateWebhooks: config.webhooks.allow_private_targets,
        registry: ctx,
        gc: { registry: ctx, config },
        proxy,
      }),
    );
  }

  // The hub API (/api): anonymous read-only in auth.mode none and htpasswd, accounts in token mode.
  await registerApi(app, {
    db,
    registry: ctx,
    config,
    ...(tokenDeps ? { tokenDeps } : {}),
    options: {
      ...DEFAULT_API_OPTIONS,
      rateLimit: {
        limit: config.api.rate_limit,
        windowMs: config.api.rate_limit_window,
        exemptAdmins: config.api.rate_limit_exempt_admins,
      },
    },
    proxy,
  });

  // Abandoned upload sessions: purged at start, then by every GC run (or on their own timer
  // when GC is off).
  const purge = () =>
    uploads.purge().then(
      (n) => n > 0 && logger.info({ purged: n }, 'purged abandoned upload sessions'),
      (err: unknown) => logger.error({ err }, 'upload purge failed'),
    );
  await purge();
  const timer = config.gc.enabled ? undefined : setInterval(purge, config.storage.upload_purge_interval);
  timer?.unref();
  const gc = config.gc.enabled
    ? scheduleGc(
        ctx,
        {
          ...gcOptions(config),
          interval: config.gc.interval,
          uploadBusy: (id) => uploads.isBusy(id),
        },
        {
          onReport: (r) =>
            (r.manifestsDeleted > 0 || r.manifestsEvicted > 0 || r.blobsDeleted > 0 || r.failures > 0) &&
            logger.info(
              {
                manifests: r.manifestsDeleted,
                evicted: r.manifestsEvicted,
                blobs: r.blobsDeleted,
                bytes: r.bytesFreed,
                failures: r.failures,
              },
              'garbage collection',
            ),
          onError: (err) => logger.error({ err }, 'garbage collection failed'),
        },
      )
    : undefined;
  const retention = startRetentionSchedule(ctx, config.retention.interval, logger);

  return {
    app,
    ctx,
    uploads,
    metrics,
    ...(gc ? { gc } : {}),
    async close() {
      if (timer) clearInterval(timer);
      await gc?.stop();
      await retention.stop();
      await app.close();
      await hubEvents.stop();
      await proxy?.remotes.close();
      await db.destroy();
    },
  };
}

async function openProxy(config: Config, ctx: RegistryContext, logger: Logger) {
  const [{ PullThroughCache }, { openRemote, RemoteMap }] = await Promise.all([
    import('../registry/proxy/cache.js'),
    import('../registry/proxy/remotes.js'),
  ]);
  const remotes = new RemoteMap(config.proxy.remotes.map((r) => openRemote(r)));
  return new PullThroughCache(ctx, remotes, { tagTtl: config.proxy.tag_ttl }, logger);
}
