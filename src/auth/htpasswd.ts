// Apache htpasswd file as a user database, like Distribution's `htpasswd`
// auth: `user:hash` lines, bcrypt only. The file is watched by polling `stat`
// so that `htpasswd -B file user` takes effect without a restart.
import type { BigIntStats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { hashFormat, spendVerifyTime, verifyPassword } from './passwords.js';

export interface HtpasswdOptions {
  /** Minimum time between two `stat` checks of the file. Default 1000 ms. */
  checkIntervalMs?: number;
  /** Clock for the check interval (tests). Default Date.now. */
  now?: () => number;
}

interface Loaded {
  users: Map<string, string>;
  /** A hash with the most common bcrypt cost: unknown users cost as much as known ones. */
  timingModel: string | undefined;
}

const EMPTY: Loaded = { users: new Map(), timingModel: undefined };

/** Every field that changes when the file is replaced or rewritten (ns mtime: same-size edits). */
function signatureOf(s: BigIntStats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function errorCode(e: unknown): string {
  if (e instanceof Error && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

/** Name of a scheme we refuse, for the log: never any part of the hash itself. */
function describeScheme(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'Apache MD5 (apr1)';
  if (hash.startsWith('{SHA}')) return 'SHA-1';
  if (/^\$[156]\$/.test(hash)) return 'crypt MD5/SHA-2';
  if (hash.startsWith('$2')) return 'malformed or unsupported bcrypt';
  if (hash.startsWith('$')) return 'unknown';
  return 'crypt or plain text';
}

export class Htpasswd {
  readonly #file: string;
  readonly #log: (msg: string) => void;
  readonly #interval: number;
  readonly #now: () => number;
  #loaded: Loaded = EMPTY;
  /** Signature of the file state last loaded (or `error:CODE`); undefined before the first check. */
  #signature: string | undefined;
  #lastCheck = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;

  constructor(file: string, log?: (msg: string) => void, options: HtpasswdOptions = {}) {
    this.#file = file;
    this.#log = log ?? (() => {});
    this.#interval = options.checkIntervalMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** True when `username` is in the file with a bcrypt hash that `password` matches. */
  async verify(username: string, password: string): Promise<boolean> {
    await this.#refresh();
    const { users, timingModel } = this.#loaded;
    const hash = users.get(username);
    if (hash === undefined) {
      await spendVerifyTime(password, timingModel);
      return false;
    }
    return verifyPassword(hash, password);
  }

  /** Users with an accepted (bcrypt) entry, in file order. */
  async users(): Promise<string[]> {
    await this.#refresh();
    return [...this.#loaded.users.keys()];
  }

  /** Re-read the file if it changed, checking at most once per interval; concurrent callers share one check. */
  #refresh(): Promise<void> {
    const now = this.#now();
    if (this.#signature !== undefined && now - this.#lastCheck < this.#interval) return Promise.resolve();
    if (this.#pending === undefined) {
      this.#lastCheck = now;
      this.#pending = this.#check().finally(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  async #check(): Promise<void> {
    let signature: string;
    let text: string;
    try {
      // stat before read: if the file changes in between, the next check
      // sees a new signature and reads it again.
      signature = signatureOf(await stat(this.#file, { bigint: true }));
      if (signature === this.#signature) return;
      text = await readFile(this.#file, 'utf8');
    } catch (e) {
      const code = errorCode(e);
      // Logged once per change of state, not on every request.
      if (this.#signature !== `error:${code}`) {
        this.#log(`htpasswd: cannot read ${this.#file} (${code}); nobody can log in until it is readable`);
      }
      this.#signature = `error:${code}`;
      this.#loaded = EMPTY;
      return;
    }
    this.#loaded = this.#parse(text);
    this.#signature = signature;
  }

  #parse(text: string): Loaded {
    const users = new Map<string, string>();
    const costs = new Map<string, { count: number; hash: string }>();
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const where = `htpasswd ${this.#file} line ${i + 1}`;
      // trim() also drops the \r of CRLF files.
      const line = (lines[i] ?? '').trim();
      if (line === '' || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      if (colon <= 0) {
        // Not even a user name to show; the line itself could be a secret.
        this.#log(`${where}: not a "user:hash" entry; ignored`);
        continue;
      }
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (hashFormat(hash) !== 'bcrypt') {
        this.#log(
          `${where}: user ${JSON.stringify(user)} has a ${describeScheme(hash)} hash; only bcrypt (htpasswd -B) is accepted; ignored`,
        );
        continue;
      }
      if (users.has(user)) {
        // Apache's mod_authn_file uses the first matching line; so do we.
        this.#log(`${where}: duplicate user ${JSON.stringify(user)}; the first entry is used`);
        continue;
      }
      users.set(user, hash);
      const cost = hash.slice(4, 6);
      const c = costs.get(cost);
      if (c === undefined) costs.set(cost, { count: 1, hash });
      else c.count++;
    }
    let timingModel: { count: number; hash: string } | undefined;
    for (const c of costs.values()) if (timingModel === undefined || c.count > timingModel.count) timingModel = c;
    return { users, timingModel: timingModel?.hash };
  }
}
