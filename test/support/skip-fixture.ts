// A test file run only by test/ci-summary.test.ts (vitest's include does not match it): the kinds
// of skip that .ci/run must tell apart, chosen by WHARF_SKIP_FIXTURE.
import { describe, expect, it } from 'vitest';
import { interopDescribe, notAsRootIt } from './tools.js';

it('passes', () => {
  expect(1 + 1).toBe(2);
});

notAsRootIt('runs when not root', 'a root twin covers root', () => {
  expect(1 + 1).toBe(2);
});

const kind = process.env.WHARF_SKIP_FIXTURE;

if (kind === 'tool') {
  interopDescribe('needs a tool', ['wharf-no-such-tool'], () => {
    it('uses it', () => {
      expect(1 + 1).toBe(2);
    });
  });
}

if (kind === 'bare') {
  describe.skip('skipped with no reason', () => {
    it('never runs', () => {
      expect(1 + 1).toBe(2);
    });
  });
}
