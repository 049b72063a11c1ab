// Password hashing and verification. New hashes are argon2id; bcrypt is
// verified too because htpasswd files (`htpasswd -B`) carry bcrypt hashes.
import { randomBytes } from 'node:crypto';
import type { Options as Argon2Options } from '@node-rs/argon2';

/** argon2 (a native module) is loaded on the first login or new password, not by an idle server. */
const argon2 = () => import('@node-rs/argon2');

/** bcrypt is only for htpasswd files: loaded when first needed, not by every server. */
const bcrypt = async () => (await import('bcryptjs')).default;

// PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash); the library decodes and
// rejects the rest, so only the scheme prefix is checked here.
const ARGON2_RE = /^\$argon2(?:id|i|d)\$/;
// Modular crypt bcrypt: $2b$NN$ + 22 chars of salt + 31 chars of hash. $2x$ (the
// buggy pre-2011 variant) is deliberately refused.
const BCRYPT_RE = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

export type HashFormat = 'argon2' | 'bcrypt';

/** The supported scheme `hash` is written in, or undefined (malformed or unknown scheme). */
export function hashFormat(hash: string): HashFormat | undefined {
  if (ARGON2_RE.test(hash)) return 'argon2';
  const m = BCRYPT_RE.exec(hash);
  // bcrypt defines costs 4..31; anything else is malformed.
  if (m?.[1] !== undefined && Number(m[1]) >= 4 && Number(m[1]) <= 31) return 'bcrypt';
  return undefined;
}

/** argon2id with the library defaults (m=19 MiB, t=2, p=1: OWASP's recommendation), as a PHC string. */
export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(password);
}

/**
 * True when `password` matches `hash` (argon2 PHC or bcrypt). Never throws:
 * an unknown scheme or a malformed hash is simply no match.
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    switch (hashFormat(hash)) {
      case 'argon2':
        return await (await argon2()).verify(hash, password);
      case 'bcrypt':
        // $2y$ (PHP/Apache) and $2b$ are the same algorithm; normalise so the
        // bcrypt library never has to know about the alias.
        return await (await bcrypt()).compare(password, `$2b$${hash.slice(4)}`);
      default:
        return false;
    }
  } catch {
    // A hash that passed the shape check but does not decode (bad base64, bad params).
    return false;
  }
}

// Dummy hashes, keyed by scheme + cost, computed on first use. Bounded: the
// set of cost parameters in use is tiny, but callers' input must not grow it.
const dummies = new Map<string, Promise<string>>();
const MAX_DUMMIES = 32;
const DEFAULT_DUMMY = 'argon2:default';

/** Cache key and recipe for a dummy hash that costs as much to verify as `like`. */
async function dummyRecipe(like: string | undefined): Promise<[string, () => Promise<string>]> {
  const format = like === undefined ? undefined : hashFormat(like);
  if (like !== undefined && format === 'bcrypt') {
    const cost = Number(like.slice(4, 6));
    return [`bcrypt:${cost}`, async () => (await bcrypt()).hash(generatePassword(), cost)];
  }
  if (like !== undefined && format === 'argon2') {
    try {
      const { hash: argon2Hash, parseOptions } = await argon2();
      const o = parseOptions(like);
      const options: Argon2Options = {
        algorithm: o.algorithm,
        version: o.version,
        memoryCost: o.memoryCost,
        timeCost: o.timeCost,
        parallelism: o.parallelism,
        outputLen: o.outputLen,
      };
      const key = `argon2:${Object.values(options).join(':')}`;
      return [key, () => argon2Hash(generatePassword(), options)];
    } catch {
      // Undecodable: use the default dummy.
    }
  }
  return [DEFAULT_DUMMY, () => hashPassword(generatePassword())];
}

async function dummyFor(like: string | undefined): Promise<string> {
  let [key, make] = await dummyRecipe(like);
  if (!dummies.has(key) && dummies.size >= MAX_DUMMIES) [key, make] = await dummyRecipe(undefined);
  let dummy = dummies.get(key);
  if (dummy === undefined) {
    dummy = make();
    dummies.set(key, dummy);
    // A failed computation must not stay cached.
    dummy.catch(() => dummies.delete(key));
  }
  return dummy;
}

/**
 * Spend the time of a failed verification, so that "no such user" answers as
 * slowly as "wrong password" and timing does not reveal which accounts exist.
 * `like` (optional): a real hash whose scheme and cost to imitate, e.g. a
 * bcrypt cost-5 entry of an htpasswd file, since argon2 and bcrypt take very
 * different times. Without it, the dummy is argon2id with hashPassword()'s
 * parameters. The first call per cost also pays for computing the dummy.
 */
export async function spendVerifyTime(password: string, like?: string): Promise<void> {
  try {
    await verifyPassword(await dummyFor(like), password);
  } catch {
    // Only time matters here.
  }
}

/** 24 URL-safe characters (144 random bits) from the system CSPRNG. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
