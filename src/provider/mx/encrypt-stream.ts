// The event-loop side of one streamed encryption job (see
// ./encrypt-protocol.ts): feeds the plaintext to the worker in blocks while
// it has credits, and is itself the async iterable of the ciphertext blocks
// coming back, each read one giving the worker a credit for the next.
import type { FromWorker, ToWorker } from './encrypt-protocol.js';

type Outgoing = ToWorker extends infer M ? (M extends { job: number } ? Omit<M, 'job'> : never) : never;

export interface StreamedJobOptions {
  send(m: Outgoing, transfer?: ArrayBuffer[]): void;
  /** Called once when the job ended, however. */
  finished(): void;
  signal: AbortSignal;
}

export class StreamedJob implements AsyncIterable<Uint8Array> {
  private readonly out: Uint8Array[] = [];
  private credits = 0;
  private ended = false;
  private complete = false;
  private error: Error | null = null;
  private waiting: Array<() => void> = [];
  private readonly onAbort = () => this.cancel(this.opts.signal.reason instanceof Error ? this.opts.signal.reason : new Error('aborted'));

  constructor(private readonly opts: StreamedJobOptions) {
    opts.signal.addEventListener('abort', this.onAbort, { once: true });
    if (opts.signal.aborted) this.onAbort();
  }

  onMessage(m: FromWorker): void {
    if (this.ended) return;
    if (m.type === 'out') this.out.push(m.data);
    else if (m.type === 'ack') this.credits++;
    else if (m.type === 'done') {
      this.complete = true;
      this.finish(null);
    } else if (m.type === 'error') this.finish(new Error(m.message));
    this.wake();
  }

  /** The worker is gone or the pool is closing. */
  fail(err: Error): void {
    this.finish(err);
  }

  /** Sends the plaintext in blocks of `blockSize`, at most `window` unacknowledged. */
  async pump(chunks: AsyncIterable<Buffer>, blockSize: number, window: number): Promise<void> {
    this.credits = window;
    let block = new Uint8Array(blockSize);
    let fill = 0;
    const send = async () => {
      await this.until(() => this.credits > 0);
      if (this.ended) return;
      this.credits--;
      const data = fill === block.length ? block : block.slice(0, fill);
      this.opts.send({ type: 'chunk', data }, [data.buffer as ArrayBuffer]);
      block = new Uint8Array(blockSize);
      fill = 0;
    };
    try {
      for await (const chunk of chunks) {
        for (let at = 0; at < chunk.length && !this.ended; ) {
          const n = Math.min(chunk.length - at, block.length - fill);
          block.set(chunk.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === block.length) await send();
        }
        if (this.ended) return;
      }
      if (fill > 0) await send();
      if (!this.ended) this.opts.send({ type: 'end' });
    } catch (err) {
      // The plaintext branch failed (size limit, client gone, another recipient's failure).
      this.cancel(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.error) throw this.error;
        const next = this.out.shift();
        if (next) {
          if (!this.ended) this.opts.send({ type: 'pull' });
          yield next;
        } else if (this.complete) return;
        else await this.until(() => this.out.length > 0 || this.ended);
      }
    } finally {
      if (!this.ended) this.cancel(new Error('the ciphertext was not read to its end'));
    }
  }

  private cancel(err: Error): void {
    if (this.ended) return;
    this.opts.send({ type: 'cancel' });
    this.finish(err);
  }

  private finish(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    if (err) this.out.length = 0;
    this.opts.signal.removeEventListener('abort', this.onAbort);
    this.opts.finished();
    this.wake();
  }

  private async until(ready: () => boolean): Promise<void> {
    while (!ready() && !this.ended) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private wake(): void {
    for (const w of this.waiting.splice(0)) w();
  }
}
