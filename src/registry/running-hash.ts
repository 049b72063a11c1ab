import { type Digest, newHash } from '../oci/digest.js';

/**
 * The digest of an upload as its bytes stream in. node:crypto (OpenSSL, fastest) when one
 * process owns the session; hash-wasm's sha256 when several nodes share the sessions, because
 * its state can be saved after a chunk and loaded by whichever node gets the next one.
 */
export interface RunningHash {
  update(chunk: Uint8Array): void;
  /** The hex digest; the hash is finished. */
  digestHex(): string;
  /** The state to continue from, for a saveable hash; undefined otherwise. */
  save(): Uint8Array | undefined;
}

export function nodeHash(algorithm: Digest['algorithm']): RunningHash {
  const hash = newHash(algorithm);
  return {
    update: (chunk) => hash.update(chunk),
    digestHex: () => hash.digest('hex'),
    save: () => undefined,
  };
}

/** A saveable sha256, fresh or continued from `state` (as save() returned it). */
export async function saveableSha256(state?: Uint8Array): Promise<RunningHash> {
  // Loaded on first use: one-node registries never need it.
  const { createSHA256 } = await import('hash-wasm');
  const hasher = await createSHA256();
  hasher.init();
  if (state) hasher.load(state);
  return {
    update: (chunk) => hasher.update(chunk),
    digestHex: () => hasher.digest('hex'),
    save: () => hasher.save(),
  };
}
