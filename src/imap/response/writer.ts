// Writes responses to the client in order, with backpressure. A response may
// interleave text with streamed literals (FETCH BODY[]): the literal header is
// written, then exactly `size` bytes are piped from the source. Writes are
// serialized through one queue, so an unsolicited EXISTS from another task
// never lands inside a FETCH response.
import type { Readable, Writable } from 'node:stream';
import { logger } from '../../util/log.js';
import { serialize, type Response } from './responses.js';
import type { Piece } from './values.js';

const log = logger('imap-writer');

export class ResponseWriter {
  private queue: Promise<void> = Promise.resolve();
  private broken = false;
  /** UTF8=ACCEPT (RFC 6855) enabled on this connection. */
  utf8 = false;

  constructor(private out: Writable) {}

  /** Swap the underlying stream (STARTTLS). */
  setOutput(out: Writable): void {
    this.out = out;
  }

  /** Queue responses; resolves once they are handed to the socket (with backpressure). */
  send(...responses: Response[]): Promise<void> {
    const job = this.queue.then(async () => {
      // Text of consecutive responses goes out in one write (one packet with TCP_NODELAY).
      let text: Buffer[] = [];
      for (const r of responses) {
        for (const piece of serialize(r, { utf8: this.utf8 })) {
          if (Buffer.isBuffer(piece)) {
            text.push(piece);
            continue;
          }
          if (text.length > 0) await this.writeBytes(Buffer.concat(text));
          text = [];
          if (this.broken) return;
          await this.writePiece(piece);
        }
      }
      if (text.length > 0 && !this.broken) await this.writeBytes(Buffer.concat(text));
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Resolves when everything queued so far is written. */
  flushed(): Promise<void> {
    return this.queue;
  }

  private async writePiece(piece: Piece): Promise<void> {
    if (Buffer.isBuffer(piece)) return this.writeBytes(piece);
    let remaining = piece.size;
    const source: Readable = piece.source();
    try {
      for await (const chunk of source) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        if (buf.length > remaining) throw new Error(`literal source longer than its announced size ${piece.size}`);
        remaining -= buf.length;
        await this.writeBytes(buf);
      }
      if (remaining !== 0) throw new Error(`literal source shorter than its announced size ${piece.size}`);
    } catch (err) {
      // The literal header is already on the wire: the stream cannot be repaired, so the connection is dropped.
      this.broken = true;
      source.destroy();
      log.error({ err: (err as Error).message }, 'failed to stream literal; closing connection');
      this.out.destroy();
      throw err;
    }
  }

  private writeBytes(buf: Buffer): Promise<void> {
    if (this.out.destroyed || this.out.writableEnded) {
      this.broken = true;
      return Promise.resolve();
    }
    if (this.out.write(buf)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.out.off('drain', done);
        this.out.off('close', done);
        resolve();
      };
      this.out.once('drain', done);
      this.out.once('close', done);
    });
  }
}
