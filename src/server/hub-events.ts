import type { Logger } from 'pino';
import { DeliveryWorker } from '../hub/deliveries.js';
import { createHubEvents } from '../hub/events.js';
import { PullCounter } from '../hub/pulls.js';
import type { RegistryContext } from '../registry/context.js';
import type { Config } from './config.js';

/**
 * Wires the registry's events to the hub (tag times, pull counts, webhooks, notification
 * endpoints) and starts the delivery worker; stop() (which also writes pending pull counts)
 * before the database closes.
 */
export function startHubEvents(config: Config, ctx: RegistryContext, logger: Logger): { stop(): Promise<void> } {
  const endpoints = config.notifications.endpoints;
  const worker = new DeliveryWorker(
    ctx.db,
    {
      timeoutMs: config.webhooks.timeout,
      backoffMs: config.webhooks.backoff,
      maxBackoffMs: config.webhooks.max_backoff,
      maxAttempts: config.webhooks.max_attempts,
      pollIntervalMs: config.webhooks.poll_interval,
      allowPrivate: config.webhooks.allow_private_targets,
      endpoints: new Map(
        endpoints.map((e) => [e.name, { headers: e.headers, timeoutMs: e.timeout, backoffMs: e.backoff }]),
      ),
    },
    logger,
  );
  const pulls = new PullCounter(ctx.db, { log: logger });
  ctx.events = createHubEvents(ctx.db, {
    endpoints: endpoints.map((e) => ({ name: e.name, url: e.url, ignoredActions: e.ignored_actions })),
    scheme: config.tls.cert ? 'https' : 'http',
    sourceAddr: config.http.addr,
    queued: () => worker.kick(),
    pulls,
    log: logger,
  });
  worker.start();
  return {
    // Pending pull counts are written before the database closes: none lost on a clean stop.
    stop: async () => {
      try {
        await worker.stop();
      } finally {
        await pulls.stop();
      }
    },
  };
}
