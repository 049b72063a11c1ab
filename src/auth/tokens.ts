import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
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

/**
 * Issues and verifies the registry's bearer tokens: JWTs signed with ES256. The key pair is
 * made on first start and kept (private part readable by the owner only) at `keyFile`.
 */
export class TokenService {
  private constructor(
    private readonly privateKey: SigningKey,
    private readonly publicKey: SigningKey,
    private readonly publicJwk: JWK,
    private readonly options: TokenOptions,
  ) {}

  /** Loads the key from `keyFile`, creating it if missing; without a file the key lives in memory. */
  static async open(keyFile: string | undefined, options: TokenOptions): Promise<TokenService> {
    let privateJwk: JWK | undefined;
    if (keyFile) {
      try {
        privateJwk = JSON.parse(await readFile(keyFile, 'utf8')) as JWK;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new Error(`cannot read token signing key ${keyFile}: ${(err as Error).message}`);
      }
    }
    if (!privateJwk) {
      const pair = await generateKeyPair('ES256', { extractable: true });
      privateJwk = { ...(await exportJWK(pair.privateKey)), alg: 'ES256', use: 'sig' };
      privateJwk.kid = await calculateJwkThumbprint(privateJwk);
      if (keyFile) {
        await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
        await writeFile(keyFile, JSON.stringify(privateJwk), { mode: 0o600, flag: 'wx' });
      }
    }
    const { d: _private, ...publicJwk } = privateJwk;
    const privateKey = await importJWK(privateJwk, 'ES256');
    const publicKey = await importJWK(publicJwk, 'ES256');
    return new TokenService(privateKey, publicKey, publicJwk, options);
  }

  /** The public key as a JWK set, for registries that verify Wharf's tokens. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  async issue(subject: string, access: ResourceAccess[]): Promise<IssuedToken> {
    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.max(60, Math.floor(this.options.ttlMs / 1000));
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.publicJwk.kid as string })
      .setIssuer(this.options.issuer)
      .setAudience(this.options.service)
      .setSubject(subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, expiresIn: ttl, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** Checks signature (ES256 only), issuer, audience and validity times; throws otherwise. */
  async verify(token: string): Promise<VerifiedToken> {
    const { payload } = await jwtVerify(token, this.publicKey, {
      algorithms: ['ES256'],
      issuer: this.options.issuer,
      audience: this.options.service,
      clockTolerance: 30,
      requiredClaims: ['exp', 'nbf', 'iat', 'sub'],
    });
    return { subject: payload.sub ?? '', access: readAccess(payload) };
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
