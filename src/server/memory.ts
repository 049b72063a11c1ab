import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Start-up (module loading, migrations, schema building) allocates tens of MB that mostly
 * survive (modules, compiled schemas). Surviving scavenges makes V8 grow its young generation
 * to the maximum (two 16 MB semi-spaces, ~13 MB of them resident), and it keeps that memory
 * until its memory reducer runs, which an idle server may never trigger. Holding the growth
 * factor at 1 while the server starts keeps the young generation at its initial size; start-up
 * objects go to the old generation, where they belong anyway. An idle server then settles
 * about 13 MB lower. `releaseStartupMemory` puts V8's default back once the server listens,
 * so that a loaded server can still grow its young generation.
 */
export function holdStartupMemory(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** V8's default --semi-space-growth-factor. */
const DEFAULT_GROWTH_FACTOR = 2;

/**
 * After start: V8's default young-generation growth again, and one full collection shortly after
 * start, so that start-up garbage in the old generation is handed back to the OS too.
 */
export function releaseStartupMemory(delayMs = 500): void {
  setFlagsFromString('--expose-gc');
  // `gc` appears only in contexts created after the flag is set.
  const gc = runInNewContext('gc') as () => void;
  setTimeout(() => {
    gc();
    setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
  }, delayMs).unref();
}
