// Container output in Docker's json-file log format: one JSON record per line of output.
import { createWriteStream, type WriteStream } from 'node:fs';

/** Appends output to the json-file log, one record per line as Docker's json-file driver does. */
export class JsonLog {
  private readonly partial = { stdout: '', stderr: '' };
  private readonly out: WriteStream;

  constructor(file: string) {
    this.out = createWriteStream(file, { flags: 'a', mode: 0o640 });
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = this.partial[stream] + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) this.record(stream, `${line}\n`);
  }

  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.record(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  private record(stream: 'stdout' | 'stderr', log: string): void {
    this.out.write(`${JSON.stringify({ log, stream, time: new Date().toISOString() })}\n`);
  }

  close(): Promise<void> {
    this.flush();
    return new Promise((resolve) => this.out.end(() => resolve()));
  }
}
