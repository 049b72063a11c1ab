// Login throttling shared by every node (issue 12): the sliding window of throttle.ts, with the
// failures in the metadata database instead of one process's memory, so that a guesser who
// spreads attempts over the nodes behind a load balancer meets the same limit as on one node.
// Used when the metadata is in PostgreSQL; the single-process SQLite default keeps the
// in-memory LoginThrottle (no write per failed login on SQLite's single writer).
//
// Same semantics: keys such as `account:alice` and `addr:127.0.0.1`; a key is blocked while its
// `maxFailures` most recent failures all fall within `windowMs`; a success clears account keys
// only. Checks and failures are not one atomic step: nodes answering the same guesser at the
// same instant may let a few more attempts through than one node would (at most one per
// concurrent request), never an unbounded number.

import type { MetadataDb } from '../metadata/db.js';
import { clearFailures, recentFailures, recordFailures } from '../metadata/login-failures.js';
import { ACCOUNT_KEY_PREFIX, type FailedLogins, type LoginThrottleOptions } from './throttle.js';

export class DatabaseLoginThrottle implements FailedLogins {
  readonly #db: MetadataDb;
  readonly #max: number;
  readonly #window: number;
  readonly #now: () => number;

  constructor(db: MetadataDb, opts: Omit<LoginThrottleOptions, 'maxKeys'>) {
    if (!Number.isInteger(opts.maxFailures) || opts.maxFailures < 1) throw new RangeError('maxFailures must be ≥ 1');
    if (!(opts.windowMs > 0)) throw new RangeError('windowMs must be > 0');
    this.#db = db;
    this.#max = opts.maxFailures;
    this.#window = opts.windowMs;
    this.#now = opts.now ?? Date.now;
  }

  async retryAfter(keys: string[]): Promise<number | undefined> {
    const now = this.#now();
    let waitMs = 0;
    for (const key of new Set(keys)) {
      const times = await recentFailures(this.#db, key, now - this.#window, this.#max);
      if (times.length < this.#max) continue;
      // Newest first: the last is the oldest of the counted failures.
      const until = (times[times.length - 1] ?? 0) + this.#window;
      if (until > now) waitMs = Math.max(waitMs, until - now);
    }
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : undefined;
  }

  async failure(keys: string[]): Promise<void> {
    const now = this.#now();
    await recordFailures(this.#db, [...new Set(keys)], now, now - this.#window);
  }

  async success(keys: string[]): Promise<void> {
    await clearFailures(
      this.#db,
      keys.filter((k) => k.startsWith(ACCOUNT_KEY_PREFIX)),
    );
  }
}
