// Registry credentials in Docker's config.json format: Wharf's own file
// ($WHARF_CONFIG_DIR/config.json, default ~/.wharf/config.json), written by `wharf login`, and
// Docker's (~/.docker/config.json or $DOCKER_CONFIG/config.json), read as a fallback so that a
// user already logged in with `docker login` need not log in again. Only `auths` entries are
// used: credential helpers (`credsStore`, `credHelpers`) are not run (one warning says so).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../client/auth.js';

/** The config.json key of Docker Hub (Docker's IndexServer). */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

const HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** One `auths` entry, decoded. */
export interface AuthEntry {
  username: string;
  password: string;
  identityToken?: string;
}

interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** Wharf's config directory: `$WHARF_CONFIG_DIR`, else `~/.wharf`. */
export function wharfConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.WHARF_CONFIG_DIR;
  return dir !== undefined && dir !== '' ? dir : join(env.HOME || homedir(), '.wharf');
}

/** Docker's config directory: `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG;
  return dir !== undefined && dir !== '' ? dir : join(env.HOME || homedir(), '.docker');
}

/**
 * The hostname form of a server address, as Docker's ConvertToHostname: scheme and path dropped
 * (`https://host:5000/v2/` → `host:5000`).
 */
export function convertToHostname(address: string): string {
  const stripped = address.replace(/^https?:\/\//, '');
  return stripped.split('/')[0] ?? stripped;
}

/** The config.json key for a registry: Docker Hub's URL for docker.io, `host[:port]` otherwise. */
export function credentialKey(server: string): string {
  if (server === DOCKER_HUB_KEY) return DOCKER_HUB_KEY;
  const host = convertToHostname(server);
  return HUB_HOSTS.has(host) ? DOCKER_HUB_KEY : host;
}

async function readConfig(file: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file}: not a JSON object`);
  }
  return parsed as ConfigFile;
}

function decodeEntry(
  file: string,
  key: string,
  value: { auth?: string; identitytoken?: string; username?: string; password?: string },
): AuthEntry {
  let username = value.username ?? '';
  let password = value.password ?? '';
  if (typeof value.auth === 'string' && value.auth !== '') {
    const decoded = Buffer.from(value.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new Error(`${file}: invalid auth configuration for ${key}`);
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  return {
    username,
    password,
    ...(typeof value.identitytoken === 'string' && value.identitytoken !== ''
      ? { identityToken: value.identitytoken }
      : {}),
  };
}

/** The entry of `key` in a config file, trying the older spellings Docker also accepts. */
function findEntry(file: string, config: ConfigFile, key: string): AuthEntry | undefined {
  const auths = config.auths ?? {};
  const candidates =
    key === DOCKER_HUB_KEY ? [key, 'index.docker.io', 'docker.io'] : [key, `https://${key}`, `http://${key}`];
  for (const [k, v] of Object.entries(auths)) {
    const matches = candidates.includes(k) || (key !== DOCKER_HUB_KEY && convertToHostname(k) === key);
    if (matches && v && typeof v === 'object') return decodeEntry(file, k, v);
  }
  return undefined;
}

export interface CredentialSources {
  /** Wharf's config directory (default wharfConfigDir()). */
  configDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Where to print the one-time warning about credential helpers (default: stderr). */
  warn?: (message: string) => void;
}

let helperWarned = false;

/** The credentials stored for a registry (`docker.io`, `host:port`): Wharf's file first, then Docker's. */
export async function findCredentials(
  registry: string,
  sources: CredentialSources = {},
): Promise<AuthEntry | undefined> {
  const env = sources.env ?? process.env;
  const key = credentialKey(registry);
  const own = join(sources.configDir ?? wharfConfigDir(env), 'config.json');
  const docker = join(dockerConfigDir(env), 'config.json');
  for (const file of own === docker ? [own] : [own, docker]) {
    const config = await readConfig(file);
    if (!config) continue;
    const entry = findEntry(file, config, key);
    if (entry && (entry.username !== '' || entry.identityToken !== undefined)) return entry;
    const helper = config.credHelpers?.[key] ?? config.credsStore;
    if (helper !== undefined && helper !== '' && !helperWarned) {
      helperWarned = true;
      (sources.warn ?? ((m) => process.stderr.write(`${m}\n`)))(
        `WARNING: ${file} names the credential helper "${helper}"; Wharf does not run credential helpers and only reads "auths"`,
      );
    }
  }
  return undefined;
}

/** Credentials as the registry client takes them: the identity token when there is one. */
export function clientCredentials(entry: AuthEntry | undefined): Credentials | undefined {
  if (!entry) return undefined;
  if (entry.identityToken !== undefined) return { identityToken: entry.identityToken };
  if (entry.username === '' && entry.password === '') return undefined;
  return { username: entry.username, password: entry.password };
}

/** Writes JSON to `file` with mode 0600: a temp file in the same directory, then a rename. */
async function writeAtomically(file: string, dir: string, config: ConfigFile): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.config.json.${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(temp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/**
 * Saves credentials for `server` in Wharf's config.json, as the docker CLI saves them: `auth` is
 * base64(user:password); with an identity token the password is dropped (`auth` = base64(user:))
 * and the token kept as `identitytoken`. Other keys of the file are kept.
 */
export async function saveCredentials(
  server: string,
  entry: AuthEntry,
  configDir: string = wharfConfigDir(),
): Promise<string> {
  const file = join(configDir, 'config.json');
  const config = (await readConfig(file)) ?? {};
  const key = credentialKey(server);
  const password = entry.identityToken !== undefined ? '' : entry.password;
  const value: { auth?: string; identitytoken?: string } = {};
  if (entry.username !== '' || password !== '') {
    value.auth = Buffer.from(`${entry.username}:${password}`, 'utf8').toString('base64');
  }
  if (entry.identityToken !== undefined) value.identitytoken = entry.identityToken;
  config.auths = { ...(config.auths ?? {}), [key]: value };
  await writeAtomically(file, configDir, config);
  return file;
}

/**
 * Removes the credentials of `server` from Wharf's config.json (under its key and the `http://`,
 * `https://` spellings, as docker logout does). Returns whether there were any.
 */
export async function removeCredentials(server: string, configDir: string = wharfConfigDir()): Promise<boolean> {
  const file = join(configDir, 'config.json');
  const config = await readConfig(file);
  const key = credentialKey(server);
  const keys = key === DOCKER_HUB_KEY ? [key] : [key, `http://${key}`, `https://${key}`];
  const auths = config?.auths;
  if (!config || !auths || !keys.some((k) => k in auths)) return false;
  for (const k of keys) delete auths[k];
  await writeAtomically(file, configDir, config);
  return true;
}
