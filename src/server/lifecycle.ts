import type { Logger } from 'pino';
import { runRetention } from '../hub/retention.js';
import type { RegistryContext } from '../registry/context.js';

/**
 * Applies the retention policies every `intervalMs` (retention.interval; 0: never), one run at a
 * time. The tags it removes leave their manifests and blobs to garbage collection, which reviews
 * them after gc.review_delay. stop() waits for a run in progress.
 */
export function startRetentionSchedule(
  ctx: RegistryContext,
  intervalMs: number,
  logger: Logger,
): { stop(): Promise<void> } {
  if (intervalMs <= 0 || !ctx.options.deleteEnabled) return { stop: async () => {} };
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = runRetention(ctx, { all: true }, { dryRun: false })
      .then(
        (run) => {
          if (run.removed > 0) logger.info({ removed: run.removed }, 'retention policies removed tags');
        },
        (err: unknown) => logger.error({ err }, 'retention run failed'),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
