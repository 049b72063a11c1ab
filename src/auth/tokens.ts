import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { MetadataDb } from '../metadata/db.js';
import { insertSigningKey, listSigningKeys, type StoredSigningKey } from '../metadata/signing-keys.js';
import type { ResourceAccess } from './scope.js';

export interface TokenOptions {
  issuer: string;
  /** The audience: the registry's service name. */
  service: string;
  ttlMs: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export interface VerifiedToken {
  subject: string;
  access: ResourceAccess[];
}

type SigningKey = Awaited<ReturnType<typeof importJWK>>;

/** A loaded key: its public JWK (for the JWKS) and the key that verifies with it. */
interface VerifyingKey {
  publicJwk: JWK;
  key: SigningKey;
}

/** Unknown kids reload the keys from the database at most this often (forged kids cost nothing). */
const RELOAD_INTERVAL_MS = 5_000;

/**
 * Issues and verifies the registry's bearer tokens: JWTs signed with ES256. The keys live in the
 * metadata database (table token_signing_keys), so that every node of a cluster signs with the
 * same key and verifies every key: the first node to start makes the key, the others read it.
 */
export class TokenService {
  private verifying = new Map<string, VerifyingKey>();
  private lastReload = 0;

  private constructor(
    private readonly db: MetadataDb,
    private readonly signing: { kid: string; key: SigningKey },
    private readonly options: TokenOptions,
  ) {}

  /**
   * Loads the keys from the database, making the signing key if there is none. `legacyKeyFile`
   * (the key file of Wharf before 0010, on filesystem storage) is imported when present, as the
   * signing key if the database has none yet: tokens issued before the upgrade stay valid.
   */
  static async open(db: MetadataDb, options: TokenOptions & { legacyKeyFile?: string }): Promise<TokenService> {
    const { legacyKeyFile, ...tokenOptions } = options;
    const legacy = legacyKeyFile ? await readLegacyKey(legacyKeyFile) : undefined;
    if (legacy) await importKey(db, legacy);
    let stored = await listSigningKeys(db);
    if (!stored.some((k) => k.current)) {
      const pair = await generateKeyPair('ES256', { extractable: true });
      const jwk: JWK = { ...(await exportJWK(pair.privateKey)), alg: 'ES256', use: 'sig' };
      jwk.kid = await calculateJwkThumbprint(jwk);
      // Loses the race quietly when another node inserted its key first: then that one is read.
      await insertSigningKey(db, { kid: jwk.kid, privateJwk: JSON.stringify(jwk), current: true });
      stored = await listSigningKeys(db);
    }
    const current = stored.find((k) => k.current);
    if (!current) throw new Error('no token signing key in the database after creating one');
    const privateJwk = JSON.parse(current.privateJwk) as JWK;
    const service = new TokenService(db, { kid: current.kid, key: await importJWK(privateJwk, 'ES256') }, tokenOptions);
    await service.load(stored);
    return service;
  }

  private async load(stored: StoredSigningKey[]): Promise<void> {
    const keys = new Map<string, VerifyingKey>();
    for (const k of stored) {
      const { d: _private, ...publicJwk } = JSON.parse(k.privateJwk) as JWK;
      keys.set(k.kid, { publicJwk, key: await importJWK(publicJwk, 'ES256') });
    }
    this.verifying = keys;
    this.lastReload = Date.now();
  }

  /** The key of `kid`, reading the database again (rate-limited) when another node added one. */
  private async keyFor(kid: string | undefined): Promise<SigningKey | undefined> {
    const id = kid ?? this.signing.kid;
    let found = this.verifying.get(id);
    if (!found && Date.now() - this.lastReload >= RELOAD_INTERVAL_MS) {
      await this.load(await listSigningKeys(this.db));
      found = this.verifying.get(id);
    }
    return found?.key;
  }

  /** Every public key, the signing one first, as a JWK set, for registries that verify Wharf's tokens. */
  async jwks(): Promise<{ keys: JWK[] }> {
    if (Date.now() - this.lastReload >= RELOAD_INTERVAL_MS) {
      try {
        await this.load(await listSigningKeys(this.db));
      } catch {
        // The keys already loaded still answer while the database is unreachable.
      }
    }
    return { keys: [...this.verifying.values()].map((k) => k.publicJwk) };
  }

  async issue(subject: string, access: ResourceAccess[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.max(60, Math.floor(this.options.ttlMs / 1000));
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.signing.kid })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.service)
      .setSubject(subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.signing.key);
    return { token, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** Checks signature (ES256 only), issuer, audience and validity times; throws otherwise. */
  async verify(token: string): Promise<VerifiedToken> {
    const key = await this.keyFor(decodeProtectedHeader(token).kid);
    if (!key) throw new Error('token signed with an unknown key');
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['ES256'],
      issuer: this.options.issuer,
      audience: this.options.service,
      clockTolerance: 30,
      requiredClaims: ['exp', 'nbf', 'iat', 'sub'],
    });
    return { subject: payload.sub ?? '', access: readAccess(payload) };
  }
}

/** The key file of Wharf before migration 0010, or undefined when there is none. */
async function readLegacyKey(file: string): Promise<JWK | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as JWK;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read token signing key ${file}: ${(err as Error).message}`);
  }
}

/** Imports a key file: the signing key if the database has none, else a key that still verifies. */
async function importKey(db: MetadataDb, jwk: JWK): Promise<void> {
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
  const privateJwk = JSON.stringify({ ...jwk, kid });
  if (!(await insertSigningKey(db, { kid, privateJwk, current: true }))) {
    await insertSigningKey(db, { kid, privateJwk, current: false });
  }
}

function readAccess(payload: JWTPayload): ResourceAccess[] {
  const raw = payload.access;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return [];
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions)) return [];
    return [{ type, name, actions: actions.filter((a): a is string => typeof a === 'string') }];
  });
}

/** A new refresh token and the id it is stored under (its sha256: the token itself is never stored). */
export function newRefreshToken(): { token: string; id: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, id: refreshTokenId(token) };
}

export function refreshTokenId(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
