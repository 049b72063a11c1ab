// Layer identities as Docker's layer store sees them: a layer is its diff ID on top of the
// layers below it, named by the chain ID.
import { createHash } from 'node:crypto';

/** Docker's chain IDs: chainID(1) = diffID(1), chainID(n) = sha256(chainID(n-1) + " " + diffID(n)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let previous: string | undefined;
  for (const diffId of diffIds) {
    previous =
      previous === undefined ? diffId : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`;
    out.push(previous);
  }
  return out;
}
