// Where `save` and `export` write their tar: a file given with -o (written through a temp file
// and renamed once complete, so a failure leaves nothing), or stdout unless it is a terminal.
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';

/** Docker's refusal to write an archive to a terminal; undefined when the target is fine. */
export function saveTargetError(outputFile: string | undefined, stdoutIsTTY: boolean): string | undefined {
  if (outputFile === undefined && stdoutIsTTY) {
    return 'cowardly refusing to save to a terminal. Use the -o flag or redirect';
  }
  return undefined;
}

/** Runs `write` on the -o file (atomically) or on stdout; refuses a terminal with Docker's message. */
export async function writeArchive(file: string | undefined, write: (out: Writable) => Promise<void>): Promise<void> {
  const refusal = saveTargetError(file, process.stdout.isTTY === true);
  if (refusal !== undefined) throw new Error(refusal);
  if (file === undefined) {
    await write(process.stdout);
    return;
  }
  const temp = join(dirname(file), `.${basename(file)}.wharf-${process.pid}-${Date.now()}`);
  const handle = await open(temp, 'wx', 0o644);
  try {
    await write(handle.createWriteStream({ highWaterMark: 1024 * 1024 }));
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  } finally {
    await handle.close().catch(() => {});
  }
}
