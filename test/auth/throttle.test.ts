import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../src/auth/throttle.js';

function setup(maxFailures = 3, windowMs = 60_000, maxKeys?: number) {
  const clock = { t: 1_000_000 };
  const throttle = new LoginThrottle({ maxFailures, windowMs, now: () => clock.t, maxKeys });
  return { clock, throttle };
}

const ALICE = 'account:alice';
const ADDR = 'addr:127.0.0.1';

describe('LoginThrottle', () => {
  it('blocks a key after maxFailures failures, with a positive retryAfter', () => {
    const { clock, throttle } = setup();
    for (let i = 0; i < 2; i++) {
      throttle.failure([ALICE]);
      expect(throttle.retryAfter([ALICE])).toBeUndefined();
      clock.t += 1000;
    }
    throttle.failure([ALICE]);
    // The oldest failure was 2 s ago: 58 s left in its window.
    expect(throttle.retryAfter([ALICE])).toBe(58);
    clock.t += 500;
    expect(throttle.retryAfter([ALICE])).toBe(58); // 57.5 s, rounded up
  });

  it('unblocks when the oldest counted failure leaves the window (sliding)', () => {
    const { clock, throttle } = setup(3, 60_000);
    throttle.failure([ALICE]); // t0
    clock.t += 10_000;
    throttle.failure([ALICE]); // t0 + 10 s
    throttle.failure([ALICE]); // t0 + 10 s
    expect(throttle.retryAfter([ALICE])).toBe(50);
    clock.t += 49_999;
    expect(throttle.retryAfter([ALICE])).toBe(1);
    clock.t += 1;
    expect(throttle.retryAfter([ALICE])).toBeUndefined();
    // Two failures still count: one more blocks again, until t0 + 10 s + 60 s.
    throttle.failure([ALICE]);
    expect(throttle.retryAfter([ALICE])).toBe(10);
    clock.t += 10_000;
    expect(throttle.retryAfter([ALICE])).toBeUndefined();
    // Long after: everything expired, a fresh allowance.
    clock.t += 120_000;
    throttle.failure([ALICE]);
    throttle.failure([ALICE]);
    expect(throttle.retryAfter([ALICE])).toBeUndefined();
  });

  it('clears only the account key on success, never the address key', () => {
    const { throttle } = setup(2);
    throttle.failure([ALICE, ADDR]);
    throttle.failure([ALICE, ADDR]);
    expect(throttle.retryAfter([ALICE])).toBeGreaterThan(0);
    expect(throttle.retryAfter([ADDR])).toBeGreaterThan(0);
    throttle.success([ALICE, ADDR]);
    expect(throttle.retryAfter([ALICE])).toBeUndefined();
    expect(throttle.retryAfter([ADDR])).toBeGreaterThan(0);
    throttle.failure([ALICE]);
    expect(throttle.retryAfter([ALICE])).toBeUndefined();
  });

  it('a good login on one account leaves the address count built on other accounts', () => {
    const { throttle } = setup(3);
    throttle.failure(['account:u1', ADDR]);
    throttle.failure(['account:u2', ADDR]);
    throttle.success(['account:mallory', ADDR]);
    throttle.failure(['account:u3', ADDR]);
    expect(throttle.retryAfter(['account:mallory', ADDR])).toBeGreaterThan(0);
  });

  it('keeps keys independent; retryAfter answers for any blocked key', () => {
    const { clock, throttle } = setup(2, 30_000);
    throttle.failure([ALICE, ADDR]);
    throttle.failure([ALICE, 'addr:10.0.0.2']);
    expect(throttle.retryAfter([ALICE])).toBe(30);
    expect(throttle.retryAfter([ADDR])).toBeUndefined();
    expect(throttle.retryAfter(['addr:10.0.0.2'])).toBeUndefined();
    expect(throttle.retryAfter(['account:bob', ADDR])).toBeUndefined();
    // Alice's account is blocked from any address.
    expect(throttle.retryAfter(['account:alice', 'addr:10.9.9.9'])).toBe(30);
    clock.t += 10_000;
    throttle.failure(['account:bob', ADDR]);
    throttle.failure(['account:carol', 'addr:10.0.0.3']);
    throttle.failure(['account:carol', 'addr:10.0.0.3']);
    expect(throttle.retryAfter([ALICE])).toBe(20);
    expect(throttle.retryAfter([ADDR])).toBe(20);
    // The longest wait wins: carol (30 s) over alice (20 s).
    expect(throttle.retryAfter([ALICE, 'account:carol'])).toBe(30);
    throttle.success(['account:bob']);
    expect(throttle.retryAfter([ADDR])).toBe(20);
    expect(throttle.retryAfter(['account:bob'])).toBeUndefined();
  });

  it('counts a key given twice in one call once', () => {
    const { throttle } = setup(2);
    throttle.failure([ALICE, ALICE]);
    expect(throttle.retryAfter([ALICE])).toBeUndefined();
  });

  it('prunes expired keys and caps the number of keys', () => {
    const { clock, throttle } = setup(3, 60_000, 1000);
    for (let i = 0; i < 5000; i++) throttle.failure([`addr:${i}`]);
    expect(throttle.size).toBe(1000);
    // The most recent keys are the ones kept.
    throttle.failure(['addr:4999']);
    throttle.failure(['addr:4999']);
    expect(throttle.retryAfter(['addr:4999'])).toBe(60);
    // A failure after the window has passed prunes all expired keys.
    clock.t += 60_000;
    throttle.failure([ALICE]);
    expect(throttle.size).toBe(1);
  });

  it('keeps at most maxFailures times per key', () => {
    const { clock, throttle } = setup(3, 60_000);
    for (let i = 0; i < 10_000; i++) {
      throttle.failure([ALICE]);
      clock.t += 1;
    }
    // Blocked until the third-latest failure is 60 s old.
    expect(throttle.retryAfter([ALICE])).toBe(60);
    expect(throttle.size).toBe(1);
  });

  it('refuses nonsense options', () => {
    expect(() => new LoginThrottle({ maxFailures: 0, windowMs: 1000 })).toThrow(RangeError);
    expect(() => new LoginThrottle({ maxFailures: 1.5, windowMs: 1000 })).toThrow(RangeError);
    expect(() => new LoginThrottle({ maxFailures: 3, windowMs: 0 })).toThrow(RangeError);
    expect(() => new LoginThrottle({ maxFailures: 3, windowMs: Number.NaN })).toThrow(RangeError);
    expect(() => new LoginThrottle({ maxFailures: 3, windowMs: 1000, maxKeys: 0 })).toThrow(RangeError);
  });
});
