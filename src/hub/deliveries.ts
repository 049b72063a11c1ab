import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Dispatcher } from 'undici';
import { type MetadataDb, now } from '../metadata/db.js';
import type { Database } from '../metadata/schema.js';
import {
  guardedDispatcher,
  SIGNATURE_HEADER,
  signature,
  validateTarget,
  WebhookError,
  webhookSecret,
} from './webhooks.js';

/**
 * The durable delivery queue (issue 6): one `deliveries` row per event and target (a repository
 * webhook or a configured notification endpoint), every attempt in `delivery_attempts`. All state
 * is in the database, so pending deliveries survive a restart; requests only insert rows.
 */

/** A registry-wide notification endpoint, as configured (headers stay in the config, not the DB). */
export interface EndpointSettings {
  headers: Record<string, string>;
  timeoutMs: number;
  backoffMs: number;
}

export interface QueueOptions {
  timeoutMs: number;
  /** First retry delay; doubled on each failure, up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
  pollIntervalMs: number;
  /** Whether webhook targets may resolve to private addresses (checked again at each attempt). */
  allowPrivate: boolean;
  endpoints: Map<string, EndpointSettings>;
}

/** The little a worker logs; pino's logger fits. */
export interface QueueLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface NewDelivery {
  webhookId?: number;
  endpoint?: string;
  url: string;
  event: string;
  payload: string;
  contentType: string;
}

/** Adds deliveries, due now (inside the caller's transaction when given one). */
export async function enqueue(db: Kysely<Database>, items: NewDelivery[]): Promise<void> {
  if (items.length === 0) return;
  const at = now();
  await db
    .insertInto('deliveries')
    .values(
      items.map((d) => ({
        webhook_id: d.webhookId ?? null,
        endpoint: d.endpoint ?? null,
        url: d.url,
        event: d.event,
        payload: d.payload,
        content_type: d.contentType,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: at,
        created_at: at,
      })),
    )
    .execute();
}

/** Delay before attempt n+1 after n failed attempts: base × 2^(n-1), capped. */
export function backoffDelay(failedAttempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failedAttempts - 1));
}

type DueRow = {
  id: number;
  webhook_id: number | null;
  endpoint: string | null;
  url: string;
  event: string;
  payload: string;
  content_type: string;
  attempts: number;
  next_attempt_at: string;
};

/** A claimed delivery is due again this long after its timeout, should the claiming process die. */
const LEASE_MARGIN_MS = 30_000;
const BATCH = 16;

/**
 * Sends due deliveries: at once when this process queues one (kick), when a retry's backoff is
 * over (a timer for the earliest pending one), and on a slow poll for what other processes on the
 * same database queued. Several processes do not send a delivery twice: each claims a row (a
 * lease on next_attempt_at) before sending it.
 */
/** Told when something queues a delivery outside the registry's events (a redelivery): the worker of this process sends it at once. */
const queueChanged = new EventEmitter();

export class DeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  /** The wake-up for the next retry due (so that an idle server does not poll every second). */
  private nextDue: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly db: MetadataDb,
    private readonly options: QueueOptions,
    private readonly log: QueueLogger,
  ) {}

  private readonly onQueued = () => this.kick();

  start(): void {
    this.stopped = false;
    queueChanged.on('queued', this.onQueued);
    this.timer = setInterval(() => this.kick(), this.options.pollIntervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks at the queue now (after an enqueue), without waiting for the next poll. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      } else void this.scheduleNext();
    });
  }

  /** Sets a timer for the earliest pending delivery (a retry waiting out its backoff). */
  private async scheduleNext(): Promise<void> {
    try {
      const next = await this.db
        .selectFrom('deliveries')
        .select((eb) => eb.fn.min('next_attempt_at').as('at'))
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (this.stopped || !next?.at) return;
      clearTimeout(this.nextDue);
      const wait = Math.max(0, Date.parse(String(next.at)) - Date.now());
      this.nextDue = setTimeout(() => this.kick(), Math.min(wait, 2 ** 31 - 1));
      this.nextDue.unref();
    } catch (err) {
      if (!this.stopped) this.log.error({ err }, 'webhook delivery queue failed');
    }
  }

  /** Stops polling and cancels attempts in flight (they stay pending, due again at the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    queueChanged.off('queued', this.onQueued);
    clearInterval(this.timer);
    clearTimeout(this.nextDue);
    this.abort.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const due = await this.db
          .selectFrom('deliveries')
          .select([
            'id',
            'webhook_id',
            'endpoint',
            'url',
            'event',
            'payload',
            'content_type',
            'attempts',
            'next_attempt_at',
          ])
          .where('status', '=', 'pending')
          .where('next_attempt_at', '<=', now())
          .orderBy('next_attempt_at')
          .limit(BATCH)
          .execute();
        if (due.length === 0) return;
        await Promise.all(due.map((d) => this.attempt(d)));
      }
    } catch (err) {
      if (!this.stopped) this.log.error({ err }, 'webhook delivery queue failed');
    }
  }

  /** Claims a row for this worker; false when another worker got it first. */
  private async claim(d: DueRow, timeoutMs: number): Promise<boolean> {
    const lease = new Date(Date.now() + timeoutMs + LEASE_MARGIN_MS).toISOString();
    const result = await this.db
      .updateTable('deliveries')
      .set({ next_attempt_at: lease })
      .where('id', '=', d.id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', d.next_attempt_at)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  private async attempt(d: DueRow): Promise<void> {
    const endpoint = d.endpoint === null ? undefined : this.options.endpoints.get(d.endpoint);
    const timeoutMs = endpoint?.timeoutMs ?? this.options.timeoutMs;
    const backoffMs = endpoint?.backoffMs ?? this.options.backoffMs;
    if (!(await this.claim(d, timeoutMs))) return;

    const started = Date.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    // A target that can no longer be reached by design ends the delivery at once.
    let final = false;
    try {
      const headers: Record<string, string> = {
        'Content-Type': d.content_type,
        'User-Agent': 'Wharf-Hookshot/1',
        'X-Wharf-Event': d.event,
        'X-Wharf-Delivery': String(d.id),
      };
      let dispatcher: Dispatcher | undefined;
      if (d.webhook_id !== null) {
        // Checked again at each attempt: a name may resolve elsewhere than when it was saved; and
        // the connection checks the addresses it resolves itself (guardedLookup: DNS rebinding).
        await validateTarget(d.url, { allowPrivate: this.options.allowPrivate });
        if (!this.options.allowPrivate) dispatcher = await guardedDispatcher();
        const secret = await webhookSecret(this.db, d.webhook_id);
        if (secret !== '') headers[SIGNATURE_HEADER] = signature(secret, d.payload);
      } else if (!endpoint) {
        throw new WebhookError(`notification endpoint ${JSON.stringify(d.endpoint)} is no longer configured`);
      } else {
        Object.assign(headers, endpoint.headers);
      }
      const init = {
        method: 'POST',
        headers,
        body: d.payload,
        redirect: 'manual' as const,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.abort.signal]),
      };
      const res = dispatcher
        ? await (await import('undici')).fetch(d.url, { ...init, dispatcher })
        : await fetch(d.url, init);
      statusCode = res.status;
      await res.body?.cancel();
      // As Distribution: any 2xx or 3xx answer counts as delivered.
      if (res.status >= 400) error = `HTTP ${res.status}`;
    } catch (thrown) {
      // A refusal of the connection's own lookup arrives as fetch's cause.
      const cause = (thrown as { cause?: unknown }).cause;
      const err = cause instanceof WebhookError ? cause : thrown;
      if (this.abort.signal.aborted) {
        // Stopping: not an attempt of the target's; due again at the next start.
        await this.db
          .updateTable('deliveries')
          .set({ next_attempt_at: d.next_attempt_at })
          .where('id', '=', d.id)
          .execute();
        return;
      }
      if (err instanceof WebhookError) final = true;
      error = describe(err, timeoutMs);
    }
    const attempts = d.attempts + 1;
    const at = now();
    const delivered = error === null;
    const failed = !delivered && (final || attempts >= this.options.maxAttempts);
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('delivery_attempts')
        .values({
          delivery_id: d.id,
          attempted_at: at,
          status_code: statusCode,
          duration_ms: Date.now() - started,
          error,
        })
        .execute();
      await tx
        .updateTable('deliveries')
        .set({
          attempts,
          status: delivered ? 'delivered' : failed ? 'failed' : 'pending',
          delivered_at: delivered ? at : null,
          next_attempt_at: delivered
            ? at
            : new Date(Date.now() + backoffDelay(attempts, backoffMs, this.options.maxBackoffMs)).toISOString(),
        })
        .where('id', '=', d.id)
        .execute();
    });
    if (failed) this.log.warn({ delivery: d.id, url: d.url, attempts, error }, 'webhook delivery failed for good');
  }
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `no answer within ${timeoutMs} ms`;
  if (err instanceof WebhookError) return err.message;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? `: ${cause.message}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// The history, as the API shows it.

export interface DeliveryAttempt {
  attempted_at: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

export interface Delivery {
  id: number;
  event: string;
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  created_at: string;
  delivered_at: string | null;
  /** When the next attempt is due, while pending. */
  next_attempt_at: string | null;
  payload: unknown;
  attempt_log: DeliveryAttempt[];
}

/** A webhook's deliveries, newest first, each with its attempts (oldest first). */
export async function listDeliveries(
  db: MetadataDb,
  webhookId: number,
  page: { offset: number; limit: number },
): Promise<{ count: number; results: Delivery[] }> {
  const count = await db
    .selectFrom('deliveries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('webhook_id', '=', webhookId)
    .executeTakeFirstOrThrow();
  const rows = await db
    .selectFrom('deliveries')
    .selectAll()
    .where('webhook_id', '=', webhookId)
    .orderBy('id', 'desc')
    .offset(page.offset)
    .limit(page.limit)
    .execute();
  const ids = rows.map((r) => r.id);
  const attempts =
    ids.length === 0
      ? []
      : await db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', ids).orderBy('id').execute();
  return {
    count: Number(count.n),
    results: rows.map((r) => ({
      id: r.id,
      event: r.event,
      url: r.url,
      status: r.status,
      attempts: r.attempts,
      created_at: r.created_at,
      delivered_at: r.delivered_at,
      next_attempt_at: r.status === 'pending' ? r.next_attempt_at : null,
      payload: JSON.parse(r.payload) as unknown,
      attempt_log: attempts
        .filter((a) => a.delivery_id === r.id)
        .map((a) => ({
          attempted_at: a.attempted_at,
          status_code: a.status_code,
          duration_ms: a.duration_ms,
          error: a.error,
        })),
    })),
  };
}

/** Sends a delivery's payload again, as a new delivery to the webhook's current URL; its id, or undefined. */
export async function redeliver(db: MetadataDb, webhookId: number, deliveryId: number): Promise<number | undefined> {
  const row = await db
    .selectFrom('deliveries as d')
    .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
    .select(['d.event', 'd.payload', 'd.content_type', 'w.url'])
    .where('d.id', '=', deliveryId)
    .where('d.webhook_id', '=', webhookId)
    .executeTakeFirst();
  if (!row) return undefined;
  const at = now();
  const inserted = await db
    .insertInto('deliveries')
    .values({
      webhook_id: webhookId,
      endpoint: null,
      url: row.url,
      event: row.event,
      payload: row.payload,
      content_type: row.content_type,
      status: 'pending',
      attempts: 0,
      next_attempt_at: at,
      created_at: at,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  queueChanged.emit('queued');
  return inserted.id;
}
