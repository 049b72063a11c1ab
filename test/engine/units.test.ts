import { describe, expect, it } from 'vitest';
import { parsePlatform, selectManifest } from '../../src/engine/platform.js';
import { formatG, humanDuration, humanSize, shortId } from '../../src/engine/units.js';

describe("docker's human units", () => {
  it('sizes: decimal, 3 significant digits, no space', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1000)).toBe('1kB');
    expect(humanSize(72_800_000)).toBe('72.8MB');
    expect(humanSize(197_000_000)).toBe('197MB');
    expect(humanSize(1_090_000_000)).toBe('1.09GB');
    expect(humanSize(10_240)).toBe('10.2kB');
    expect(humanSize(999_500)).toBe('1e+03kB'); // Go's %.3g of 999.5
    expect(humanSize(16_430_000, 4)).toBe('16.43MB');
    expect(formatG(0.000012345, 3)).toBe('1.23e-05');
  });

  it('durations as units.HumanDuration', () => {
    const s = 1000;
    const h = 3600 * s;
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(s)).toBe('1 second');
    expect(humanDuration(59 * s)).toBe('59 seconds');
    expect(humanDuration(60 * s)).toBe('About a minute');
    expect(humanDuration(59 * 60 * s)).toBe('59 minutes');
    expect(humanDuration(h)).toBe('About an hour');
    expect(humanDuration(47 * h)).toBe('47 hours');
    expect(humanDuration(48 * h)).toBe('2 days');
    expect(humanDuration(14 * 24 * h)).toBe('2 weeks');
    expect(humanDuration(60 * 24 * h)).toBe('2 months');
    expect(humanDuration(3 * 365 * 24 * h)).toBe('3 years');
  });

  it('short IDs', () => {
    expect(shortId(`sha256:${'ab'.repeat(32)}`)).toBe('abababababab');
  });
});

describe('platform selection', () => {
  const entry = (architecture: string, variant?: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${architecture.padEnd(64, '0').replace(/[^0-9a-f]/g, '0')}`,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });

  it('prefers the exact platform, accepts compatible ones, errors in docker wording', () => {
    const amd = entry('amd64');
    const i386 = entry('386');
    const arm64 = entry('arm64', 'v8');
    expect(selectManifest([i386, amd, arm64], parsePlatform('linux/amd64'))).toBe(amd);
    expect(selectManifest([i386, arm64], parsePlatform('linux/amd64'))).toBe(i386);
    expect(selectManifest([amd, entry('arm64')], parsePlatform('linux/arm64'))?.platform?.architecture).toBe('arm64');
    expect(() => selectManifest([amd], parsePlatform('linux/arm64'))).toThrow(
      'no matching manifest for linux/arm64/v8 in the manifest list entries',
    );
  });
});
