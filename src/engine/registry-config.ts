// Registry settings in a daemon.json-style file, as dockerd reads them (hub-and-engine.md §4.10):
// `registry-mirrors` (docker.io pulls only), `insecure-registries` (CIDRs or host[:port]; loopback
// always insecure; a hostname is insecure when it resolves into an insecure CIDR) and Wharf's own
// `wharf-default-registry` (where docker.io names are pulled from and pushed to). Other keys of a
// copied daemon.json are ignored. File: --daemon-config, else $WHARF_DAEMON_CONFIG, else
// $WHARF_CONFIG_DIR/daemon.json (~/.wharf/daemon.json); none at all means the defaults.
import { lookup as dnsLookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN } from '../oci/reference.js';
import { wharfConfigDir } from './credentials.js';

/** The Wharf key naming the registry that stands for docker.io. */
export const DEFAULT_REGISTRY_KEY = 'wharf-default-registry';

/** Always insecure, whatever the file says (Docker adds them too). */
const LOOPBACK_CIDRS = ['127.0.0.0/8', '::1/128'];

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export interface RegistrySettings {
  /** Mirror base URLs (`https://mirror.example.com/`), tried in order for docker.io pulls. */
  mirrors: string[];
  insecureCidrs: Cidr[];
  /** `host[:port]` entries, matched literally. */
  insecureHosts: string[];
  /** The registry host docker.io names go to (default: Docker Hub). */
  defaultRegistry?: string;
  /** Where the settings came from (a file, or `defaults`). */
  source: string;
}

export class RegistryConfigError extends Error {
  override readonly name = 'RegistryConfigError';
}

const fileSchema = z.looseObject({
  'registry-mirrors': z.array(z.string()).optional(),
  'insecure-registries': z.array(z.string()).optional(),
  [DEFAULT_REGISTRY_KEY]: z.string().optional(),
});

function parseCidr(text: string): Cidr | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const address = m[1] as string;
  const prefix = Number(m[2]);
  const v = isIP(address);
  if (v === 4 && prefix <= 32) return { address, prefix, family: 'ipv4' };
  if (v === 6 && prefix <= 128) return { address, prefix, family: 'ipv6' };
  return undefined;
}

/** A mirror entry as Docker validates it: an http(s) URL with no path, query, fragment or user. */
function validateMirror(entry: string, source: string): string {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new RegistryConfigError(`${source}: invalid mirror: ${JSON.stringify(entry)} is not a valid URI`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RegistryConfigError(
      `${source}: invalid mirror: unsupported scheme ${JSON.stringify(url.protocol)} in ${JSON.stringify(entry)}`,
    );
  }
  if (
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    (url.pathname !== '/' && url.pathname !== '')
  ) {
    throw new RegistryConfigError(
      `${source}: invalid mirror: path, query, fragment or user info in ${JSON.stringify(entry)}`,
    );
  }
  return `${url.protocol}//${url.host}/`;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?)(:\d{1,5})?$/;

/** Validates a parsed daemon.json; `warn` gets Docker's warnings (scheme stripped from an entry). */
export function parseRegistrySettings(
  value: unknown,
  source: string,
  warn: (message: string) => void = () => {},
): RegistrySettings {
  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new RegistryConfigError(`${source}: ${where !== '' ? `${where}: ` : ''}${issue?.message ?? 'invalid'}`);
  }
  const file = parsed.data;
  const mirrors = (file['registry-mirrors'] ?? []).map((m) => validateMirror(m, source));
  const insecureCidrs: Cidr[] = LOOPBACK_CIDRS.map((c) => parseCidr(c) as Cidr);
  const insecureHosts: string[] = [];
  for (const raw of file['insecure-registries'] ?? []) {
    let entry = raw;
    const scheme = /^https?:\/\//.exec(entry);
    if (scheme) {
      warn(
        `insecure registry ${entry} should not contain '${scheme[0]}' and '${scheme[0]}' has been removed from the insecure registry config`,
      );
      entry = entry.slice(scheme[0].length);
    }
    entry = entry.replace(/\/+$/, '');
    const cidr = parseCidr(entry);
    if (cidr) insecureCidrs.push(cidr);
    else if (HOST_PORT.test(entry)) insecureHosts.push(entry.toLowerCase());
    else throw new RegistryConfigError(`${source}: insecure registry ${raw} is not valid`);
  }
  const settings: RegistrySettings = { mirrors, insecureCidrs, insecureHosts, source };
  const def = file[DEFAULT_REGISTRY_KEY];
  if (def !== undefined && def !== '') {
    const host = def.replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (!HOST_PORT.test(host))
      throw new RegistryConfigError(`${source}: ${DEFAULT_REGISTRY_KEY}: ${def} is not a registry host[:port]`);
    settings.defaultRegistry = host.toLowerCase();
  }
  return settings;
}

/** The settings with `--registry-mirror` flags' mirrors first (validated as daemon.json's are). */
export function withExtraMirrors(settings: RegistrySettings, mirrors: readonly string[]): RegistrySettings {
  if (mirrors.length === 0) return settings;
  const extra = mirrors.map((m) => validateMirror(m, '--registry-mirror'));
  return { ...settings, mirrors: [...extra, ...settings.mirrors.filter((m) => !extra.includes(m))] };
}

/** Loopback only: what applies without any file. */
export function defaultRegistrySettings(): RegistrySettings {
  return parseRegistrySettings({}, 'defaults');
}

/** The daemon.json path in effect (it may not exist). */
export function registryConfigFile(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  const fromEnv = env.WHARF_DAEMON_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return join(wharfConfigDir(env), 'daemon.json');
}

/** Reads the settings; a missing file gives the defaults, unless it was named explicitly. */
export async function loadRegistrySettings(
  options: { file?: string; env?: NodeJS.ProcessEnv; warn?: (message: string) => void } = {},
): Promise<RegistrySettings> {
  const env = options.env ?? process.env;
  const named = (options.file ?? '') !== '' || (env.WHARF_DAEMON_CONFIG ?? '') !== '';
  const file = registryConfigFile(options.file, env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !named) return defaultRegistrySettings();
    throw new RegistryConfigError(`unable to read registry settings ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RegistryConfigError(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  return parseRegistrySettings(json, file, options.warn ?? ((m) => process.stderr.write(`WARNING: ${m}\n`)));
}

/** Is `ip` inside one of `cidrs`? */
export function inCidrs(ip: string, cidrs: readonly Cidr[]): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** `host` of `host[:port]` (IPv6 brackets removed). */
function hostname(hostPort: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort);
  if (bracket) return bracket[1] as string;
  const colon = hostPort.lastIndexOf(':');
  return colon > 0 && hostPort.indexOf(':') === colon ? hostPort.slice(0, colon) : hostPort;
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => {
  try {
    return (await dnsLookup(host, { all: true })).map((a) => a.address);
  } catch {
    return [];
  }
};

/**
 * Docker's rule: docker.io is always secure; a registry listed literally (`host[:port]`) is
 * insecure; otherwise it is insecure when its IP (or any IP its name resolves to) is in an
 * insecure CIDR, loopback included.
 */
export async function isInsecureRegistry(
  settings: RegistrySettings,
  host: string,
  resolve: Resolver = systemResolver,
): Promise<boolean> {
  const lower = host.toLowerCase();
  if (lower === DEFAULT_DOMAIN || lower === LEGACY_DEFAULT_DOMAIN || lower === 'registry-1.docker.io') return false;
  if (settings.insecureHosts.includes(lower)) return true;
  const name = hostname(lower);
  const ips = isIP(name) !== 0 ? [name] : name === 'localhost' ? ['127.0.0.1', '::1'] : await resolve(name);
  return ips.some((ip) => inCidrs(ip, settings.insecureCidrs));
}

/** One place to talk to for a reference's registry: a mirror, the default registry, or the registry itself. */
export interface RegistryEndpoint {
  /** `host[:port]` for the client. */
  host: string;
  insecure: boolean;
  /** Set for a mirror: failures fall through to the next endpoint. */
  mirror?: string;
}

/** The registry `domain` (as in references) really talks to: docker.io may be redirected. */
export function effectiveRegistry(settings: RegistrySettings, domain: string): string {
  return domain === DEFAULT_DOMAIN && settings.defaultRegistry !== undefined ? settings.defaultRegistry : domain;
}

/**
 * Where to pull `domain`'s images from, in order: for docker.io, each mirror, then the default
 * registry; for any other registry, itself.
 */
export async function pullEndpoints(
  settings: RegistrySettings,
  domain: string,
  resolve?: Resolver,
): Promise<RegistryEndpoint[]> {
  const out: RegistryEndpoint[] = [];
  if (domain === DEFAULT_DOMAIN) {
    for (const m of settings.mirrors) {
      const url = new URL(m);
      const insecure = url.protocol === 'http:' || (await isInsecureRegistry(settings, url.host, resolve));
      out.push({ host: url.host, insecure, mirror: m });
    }
  }
  out.push(await pushEndpoint(settings, domain, resolve));
  return out;
}

/** Where pushes (and logins) for `domain` go: the registry itself, or the default registry for docker.io. */
export async function pushEndpoint(
  settings: RegistrySettings,
  domain: string,
  resolve?: Resolver,
): Promise<RegistryEndpoint> {
  const host = effectiveRegistry(settings, domain);
  return { host, insecure: await isInsecureRegistry(settings, host, resolve) };
}
