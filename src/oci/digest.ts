import { createHash, type Hash } from 'node:crypto';

/** Digest algorithms Wharf accepts, with the hex length of their encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** A parsed content digest such as `sha256:ab12…`. */
export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical string form, `algorithm:hex`. */
  readonly value: string;
}

/** Grammar of the OCI image spec: algorithm ":" encoded. */
const DIGEST_PATTERN = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Returns true when `value` looks like a digest at all, even with an algorithm Wharf does not support. */
export function looksLikeDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

/** Parses a digest string; returns undefined for anything but a well-formed sha256/sha512 digest. */
export function parseDigest(value: string): Digest | undefined {
  const m = DIGEST_PATTERN.exec(value);
  if (!m) return undefined;
  const algorithm = m[1] as string;
  const hex = m[2] as string;
  if (!(algorithm in DIGEST_ALGORITHMS)) return undefined;
  const alg = algorithm as DigestAlgorithm;
  if (hex.length !== DIGEST_ALGORITHMS[alg] || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm: alg, hex, value };
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

/** The digest of some bytes held in memory (manifests, configs; never layers). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
