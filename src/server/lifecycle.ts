import type { Logger } from 'pino';
import { runRetention } from '../hub/retention.js';
import type { RegistryContext } from '../registry/context.js';

/**
 * One scheduled application of every retention policy, logged, never throwing. Also the call a
 * GC schedule makes first, so that a run collects what retention just removed once its review
 * delay has passed (after merge with gc: call it at the start of each scheduled GC run).
 */
export async function applyRetentionPolicies(ctx: RegistryContext, logger: Logger): Promise<void> {
  if (!ctx.options.deleteEnabled) return;
  try {
    const run = await runRetention(ctx, { all: true }, { dryRun: false });
    if (run.removed > 0) logger.info({ removed: run.removed }, 'retention policies removed tags');
  } catch (err) {
    logger.error({ err }, 'retention run failed');
  }
}

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
    running = applyRetentionPolicies(ctx, logger).finally(() => {
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
