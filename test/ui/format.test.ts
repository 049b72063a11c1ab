// How the UI writes counts and times (issue 15): pulls and stars abbreviated like Docker Hub's,
// "2 hours ago" with the absolute UTC time for the hover.
import { describe, expect, it } from 'vitest';
import { abbreviate, absoluteTime, relativeTime } from '../../src/server/ui/data.js';

describe('UI formats', () => {
  it('abbreviates counts: 999, 1.2K, 3.4M, 1B; truncated, never rounded up', () => {
    expect([0, 999, 1000, 1234, 1299, 12_345, 999_999, 3_456_789, 1_000_000_000].map(abbreviate)).toEqual([
      '0',
      '999',
      '1K',
      '1.2K',
      '1.2K',
      '12.3K',
      '999.9K',
      '3.4M',
      '1B',
    ]);
  });

  it('writes relative times and the absolute UTC time', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    const ago = (seconds: number) => relativeTime(new Date(now - seconds * 1000).toISOString(), now);
    expect([ago(10), ago(60), ago(3 * 60), ago(2 * 3600), ago(86_400), ago(40 * 86_400), ago(400 * 86_400)]).toEqual([
      'just now',
      '1 minute ago',
      '3 minutes ago',
      '2 hours ago',
      '1 day ago',
      '1 month ago',
      '1 year ago',
    ]);
    expect(absoluteTime('2026-12-07T03:04:59.123Z')).toBe('2026-12-07 03:04 UTC');
  });
});
