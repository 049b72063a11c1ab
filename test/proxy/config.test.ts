import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/server/config.js';

const load = (remotes: unknown, extra: NodeJS.ProcessEnv = {}) =>
  loadConfig({ env: { WHARF_PROXY_REMOTES: JSON.stringify(remotes), ...extra } });

describe('proxy configuration', () => {
  it('takes mirror and prefix remotes, with defaults for the rest', () => {
    const config = load([
      { name: 'hub', url: 'https://registry-1.docker.io', mirror: true },
      { name: 'ghcr', url: 'https://ghcr.io', prefix: 'cache/ghcr', username: 'u', password_env: 'GHCR_TOKEN' },
    ]);
    expect(config.proxy.remotes.map((r) => [r.name, r.mirror, r.prefix])).toEqual([
      ['hub', true, undefined],
      ['ghcr', false, 'cache/ghcr'],
    ]);
    expect(config.proxy.tag_ttl).toBe(300_000);
    expect(load([], { WHARF_PROXY_TAG_TTL: '30s' }).proxy.tag_ttl).toBe(30_000);
  });

  it.each([
    ['neither prefix nor mirror', [{ name: 'a', url: 'https://a.example' }], /prefix or mirror/],
    [
      'both prefix and mirror',
      [{ name: 'a', url: 'https://a.example', prefix: 'c/a', mirror: true }],
      /prefix or mirror/,
    ],
    [
      'two mirrors',
      [
        { name: 'a', url: 'https://a.example', mirror: true },
        { name: 'b', url: 'https://b.example', mirror: true },
      ],
      /at most one mirror/,
    ],
    [
      'duplicate names',
      [
        { name: 'a', url: 'https://a.example', prefix: 'c/a' },
        { name: 'a', url: 'https://b.example', prefix: 'c/b' },
      ],
      /unique/,
    ],
    ['a URL with a path', [{ name: 'a', url: 'https://a.example/v2', prefix: 'c/a' }], /http\(s\):\/\/host/],
    ['an unknown key', [{ name: 'a', url: 'https://a.example', prefix: 'c/a', token: 'x' }], /token/],
  ])('refuses %s with a message naming the problem', (_what, remotes, message) => {
    expect(() => load(remotes)).toThrow(ConfigError);
    expect(() => load(remotes)).toThrow(message);
  });
});
