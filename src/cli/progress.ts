// How pull and push show their progress, as the docker CLI renders the daemon's JSON messages
// (hub-and-engine.md §4.9): `<id>: <status>` or `<status>`. On a terminal, one line per id,
// rewritten in place, with Docker's bar (`Downloading [====>   ] 1.2MB/3.4MB`) drawn through
// cli-progress. Elsewhere, one line per state change: messages carrying progress are dropped.
import cliProgress from 'cli-progress';
import { humanSize } from '../engine/units.js';

/** One message of the engine: a layer's (or tag's) state, with byte progress for transfers. */
export interface ProgressEvent {
  id?: string;
  status: string;
  progress?: { current: number; total: number };
}

export interface ProgressReporter {
  event(e: ProgressEvent): void;
  /** Ends the display (bars are left as they last were). */
  close(): void;
}

const BAR_WIDTH = 50;

/**
 * Docker's progress text (jsonmessage.JSONProgress.String): `[=====>      ]  2.163MB/29.54MB`,
 * sizes with go-units' HumanSize (4 significant digits); the count alone when the total is unknown.
 */
export function progressText(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current, 4).padStart(8, ' ');
  const filled = Math.min(BAR_WIDTH, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}] `;
  const numbers =
    current > total
      ? humanSize(current, 4).padStart(8, ' ')
      : `${humanSize(current, 4).padStart(8, ' ')}/${humanSize(total, 4)}`;
  return bar + numbers;
}

/** The line of one event, as Docker prints it. */
export function eventLine(e: ProgressEvent): string {
  const text = e.progress ? `${e.status} ${progressText(e.progress.current, e.progress.total)}` : e.status;
  return e.id !== undefined ? `${e.id}: ${text}` : text;
}

/** Not a terminal: state changes only, one line each. */
export class LineReporter implements ProgressReporter {
  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  event(e: ProgressEvent): void {
    if (e.progress && e.progress.current > 0) return;
    this.out.write(`${eventLine(e)}\n`);
  }

  close(): void {}
}

interface Payload {
  line: string;
}

/**
 * A terminal: one line per id, updated in place. A message without an id (Digest:, a push's
 * final digest line) ends the current block of lines and is printed after it.
 */
export class TerminalReporter implements ProgressReporter {
  private multi: cliProgress.MultiBar | undefined;
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  private block(): cliProgress.MultiBar {
    if (!this.multi) {
      this.multi = new cliProgress.MultiBar({
        stream: this.out,
        format: (_options, _params, payload: Payload) => payload.line,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        linewrap: false,
        fps: 10,
        gracefulExit: true,
        emptyOnZero: true,
      });
    }
    return this.multi;
  }

  event(e: ProgressEvent): void {
    const line = eventLine(e);
    if (e.id === undefined) {
      this.endBlock();
      this.out.write(`${line}\n`);
      return;
    }
    const bar = this.bars.get(e.id);
    if (bar) bar.update(0, { line });
    else this.bars.set(e.id, this.block().create(0, 0, { line }));
  }

  private endBlock(): void {
    if (!this.multi) return;
    this.multi.stop();
    this.multi = undefined;
    this.bars.clear();
  }

  close(): void {
    this.endBlock();
  }
}

/** Quiet (-q): nothing. */
export class SilentReporter implements ProgressReporter {
  event(): void {}
  close(): void {}
}

/** The reporter for stdout: bars on a terminal, lines otherwise, nothing when quiet. */
export function progressReporter(quiet = false, out: NodeJS.WriteStream = process.stdout): ProgressReporter {
  if (quiet) return new SilentReporter();
  return out.isTTY ? new TerminalReporter(out) : new LineReporter(out);
}
