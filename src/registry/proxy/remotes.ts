import { readFileSync } from 'node:fs';
import { RegistryClient } from '../../client/client.js';

export { servedByRemote } from './names.js';

/** A remote as configured (proxy.remotes), credentials already resolved. */
export interface RemoteConfig {
  name: string;
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  password_file?: string | undefined;
  password_env?: string | undefined;
  prefix?: string | undefined;
  mirror: boolean;
}

/** A remote ready to use: where it sits in Wharf's namespace and a client that speaks to it. */
export interface Remote {
  readonly name: string;
  /** `host[:port]` of the remote (never with credentials). */
  readonly host: string;
  readonly prefix: string | undefined;
  readonly mirror: boolean;
  readonly client: RegistryClient;
  /** The remote's last `RateLimit-*` / `Docker-RateLimit-*` header values (leading number), by header name. */
  readonly rateLimits: Map<string, number>;
}

/** Where a repository name comes from: which remote, and its name there. */
export interface Origin {
  remote: Remote;
  upstream: string;
}

/** Numeric rate-limit headers (Docker Hub's `Docker-RateLimit-Source` is an address, not a gauge). */
const RATE_LIMIT_HEADER = /^(docker-)?ratelimit-(?!source$)/i;

/** Answer headers and bodies must come back soon; a remote that hangs is treated as down. */
const REMOTE_TIMEOUT_MS = 15_000;

/** The password of a remote: inline, from a file (first line) or from an environment variable. */
function passwordOf(r: RemoteConfig, env: NodeJS.ProcessEnv): string | undefined {
  if (r.password !== undefined) return r.password;
  if (r.password_file !== undefined) return readFileSync(r.password_file, 'utf8').split('\n')[0]?.trim();
  if (r.password_env !== undefined) return env[r.password_env];
  return undefined;
}

export function openRemote(r: RemoteConfig, env: NodeJS.ProcessEnv = process.env): Remote {
  const url = new URL(r.url);
  const password = passwordOf(r, env);
  const rateLimits = new Map<string, number>();
  const client = new RegistryClient({
    host: url.host,
    // http:// is the operator's explicit choice; https is verified.
    insecure: url.protocol === 'http:',
    ...(r.username !== undefined && password !== undefined ? { credentials: { username: r.username, password } } : {}),
    userAgent: 'wharf-proxy',
    headersTimeout: REMOTE_TIMEOUT_MS,
    bodyTimeout: REMOTE_TIMEOUT_MS,
    onAnswer: (_status, headers) => {
      for (const [name, value] of Object.entries(headers)) {
        if (!RATE_LIMIT_HEADER.test(name)) continue;
        // `100;w=21600` (Docker Hub) or `42`: the leading number.
        const n = Number.parseFloat(String(Array.isArray(value) ? value[0] : value));
        if (Number.isFinite(n)) rateLimits.set(name.toLowerCase(), n);
      }
    },
  });
  return { name: r.name, host: url.host, prefix: r.prefix, mirror: r.mirror, client, rateLimits };
}

/**
 * Maps repository names to remotes: `<prefix>/x/y` → remote `x/y` for prefix remotes; any other
 * name → the mirror remote (Docker sends `library/busybox` for `busybox`), if there is one.
 */
export class RemoteMap {
  constructor(readonly remotes: readonly Remote[]) {}

  originOf(name: string): Origin | undefined {
    for (const remote of this.remotes) {
      if (remote.prefix !== undefined && name.startsWith(`${remote.prefix}/`)) {
        return { remote, upstream: name.slice(remote.prefix.length + 1) };
      }
    }
    // A prefix itself (or a name inside no prefix) is not a cached repository of a prefix remote.
    if (this.remotes.some((r) => r.prefix !== undefined && name === r.prefix)) return undefined;
    const mirror = this.remotes.find((r) => r.mirror);
    return mirror ? { remote: mirror, upstream: name } : undefined;
  }

  /** Names under a cache prefix are read-only to clients (the mirror shares the namespace with pushes). */
  isReadOnly(name: string): boolean {
    return this.remotes.some((r) => r.prefix !== undefined && name.startsWith(`${r.prefix}/`));
  }

  /** Prometheus lines: the remotes' rate-limit headers as gauges. */
  renderMetrics(): string[] {
    const out = [
      '# HELP wharf_proxy_remote_ratelimit Last RateLimit-* / Docker-RateLimit-* header value from each remote.',
      '# TYPE wharf_proxy_remote_ratelimit gauge',
    ];
    for (const r of this.remotes) {
      for (const [header, value] of r.rateLimits) {
        out.push(`wharf_proxy_remote_ratelimit{remote="${r.name}",header="${header}"} ${value}`);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.remotes.map((r) => r.client.close()));
  }
}
