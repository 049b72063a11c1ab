// Failed-login throttling, keyed by strings such as `account:alice` and
// `addr:127.0.0.1`, so that a password can be guessed neither against one
// account from many addresses nor against many accounts from one address.
//
// Sliding window: each key keeps the times of its last `maxFailures` failures.
// A key is blocked while `maxFailures` of them fall within `windowMs`, i.e.
// until the oldest counted failure is `windowMs` old; then one more attempt is
// allowed, and a failure blocks again until the next oldest expires.
//
// Memory is bounded without timers: the map is kept in order of each key's
// latest failure (a failure moves its key to the end), so expired keys are
// always at the front and are pruned on every failure() in amortised O(1);
// beyond `maxKeys` the keys with the oldest latest failure are dropped. An
// attacker spraying many keys can thus evict others' counters, but never
// grow memory past the cap.

/** Prefix of the keys that name an account (the only keys a success clears). */
export const ACCOUNT_KEY_PREFIX = 'account:';

/**
 * What the login paths need of a throttle: the in-memory LoginThrottle below (one process), or
 * DatabaseLoginThrottle (db-throttle.ts: failures shared by every node on PostgreSQL).
 */
export interface FailedLogins {
  /** Seconds (≥ 1) until every blocked key among `keys` is free again; undefined if none is blocked. */
  retryAfter(keys: string[]): number | undefined | Promise<number | undefined>;
  /** Counts one failed attempt against each key. */
  failure(keys: string[]): void | Promise<void>;
  /** A successful login: clears the account keys among `keys` (never the address keys). */
  success(keys: string[]): void | Promise<void>;
}

export interface LoginThrottleOptions {
  /** Failures within the window that block a key (≥ 1). */
  maxFailures: number;
  /** Window length in ms (> 0). */
  windowMs: number;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
  /** Most keys remembered. Default 100 000. */
  maxKeys?: number;
}

export class LoginThrottle implements FailedLogins {
  readonly #max: number;
  readonly #window: number;
  readonly #now: () => number;
  readonly #maxKeys: number;
  /** Key → failure times, oldest first, at most #max of them. */
  readonly #failures = new Map<string, number[]>();

  constructor(opts: LoginThrottleOptions) {
    if (!Number.isInteger(opts.maxFailures) || opts.maxFailures < 1) throw new RangeError('maxFailures must be ≥ 1');
    if (!(opts.windowMs > 0)) throw new RangeError('windowMs must be > 0');
    const maxKeys = opts.maxKeys ?? 100_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be ≥ 1');
    this.#max = opts.maxFailures;
    this.#window = opts.windowMs;
    this.#now = opts.now ?? Date.now;
    this.#maxKeys = maxKeys;
  }

  /** Seconds (≥ 1, rounded up) until every blocked key among `keys` is free again; undefined if none is blocked. */
  retryAfter(keys: string[]): number | undefined {
    const now = this.#now();
    let waitMs = 0;
    for (const key of keys) {
      const times = this.#failures.get(key);
      // Stored lists hold at most #max entries, so the first is the oldest counted one.
      if (times === undefined || times.length < this.#max) continue;
      const until = (times[0] ?? 0) + this.#window;
      if (until > now) waitMs = Math.max(waitMs, until - now);
    }
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : undefined;
  }

  /** Count one failed attempt against each key. */
  failure(keys: string[]): void {
    const now = this.#now();
    for (const key of new Set(keys)) {
      const times = (this.#failures.get(key) ?? []).filter((t) => t > now - this.#window);
      times.push(now);
      if (times.length > this.#max) times.splice(0, times.length - this.#max);
      // Re-insert to move the key to the end: the map stays ordered by latest failure.
      this.#failures.delete(key);
      this.#failures.set(key, times);
    }
    this.#prune(now);
  }

  /**
   * A successful login clears the account keys among `keys` only. Address keys keep their
   * failures: otherwise guesses against many accounts from one address, followed by a good login
   * on the guesser's own account, would reset the address limit.
   */
  success(keys: string[]): void {
    for (const key of keys) if (key.startsWith(ACCOUNT_KEY_PREFIX)) this.#failures.delete(key);
  }

  /** Number of keys currently remembered (for monitoring and tests). */
  get size(): number {
    return this.#failures.size;
  }

  #prune(now: number): void {
    for (const [key, times] of this.#failures) {
      const latest = times[times.length - 1] ?? Number.NEGATIVE_INFINITY;
      // Ordered by latest failure: the first live key ends the expired prefix.
      if (latest > now - this.#window && this.#failures.size <= this.#maxKeys) break;
      this.#failures.delete(key);
    }
  }
}
