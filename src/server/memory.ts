import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Idle memory. Start-up (module loading, migrations, schema building) runs a lot of code once:
 * V8's optimizing compiler picks some of it up, and its compile work leaves ~10 MB of malloc'ed
 * memory behind for code that never runs again. `holdStartupMemory` (called before the server's
 * modules load) keeps the optimizer off while the server starts; `releaseStartupMemory` (once it
 * listens) turns it back on, so request handling is optimized as usual.
 */
export function holdStartupMemory(): void {
  setFlagsFromString('--no-opt');
}

/**
 * After start: the optimizer back on, and two full collections. Start-up leaves tens of MB of
 * garbage and grows the young generation to its maximum (two 16 MB semi-spaces, ~13 MB of them
 * resident); V8 hands such memory back only from its memory reducer, which an idle server may
 * never trigger. One collection shortly after start frees the old generation's start-up garbage;
 * one when start-up has been over for more than V8's 5 s allocation-rate window also shrinks the
 * young generation back to its initial 1 MB (a collection at a low allocation rate does that).
 */
export function releaseStartupMemory(delaysMs: number[] = [500, 6500]): void {
  setFlagsFromString('--opt');
  setFlagsFromString('--expose-gc');
  // `gc` appears only in contexts created after the flag is set.
  const gc = runInNewContext('gc') as () => void;
  for (const delay of delaysMs) setTimeout(gc, delay).unref();
}
