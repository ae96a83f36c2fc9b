// Splits one incoming message stream into several consumers (one encryption
// per recipient, plus the relay on submission) with backpressure: a chunk is
// read from the source only when every branch has room, so memory stays
// bounded by the branches' buffers whatever the message size. Counts bytes
// and fails with 552 past the size limit (RFC 1870); the source is always
// read to its end so the SMTP session can answer.
import { PassThrough, type Readable } from 'node:stream';
import { once } from 'node:events';
import { DeliveryError } from './errors.js';

export interface FanOut {
  branches: PassThrough[];
  /** Resolves with the byte count once the source ended and every branch was ended. */
  done: Promise<number>;
}

export function fanOut(source: Readable, count: number, maxSize: number, signal: AbortSignal, prefix: (i: number) => Buffer | null = () => null): FanOut {
  const branches = Array.from({ length: count }, () => new PassThrough({ highWaterMark: 256 * 1024 }));
  const done = (async () => {
    let total = 0;
    let failure: unknown = null;
    for (const [i, b] of branches.entries()) {
      const head = prefix(i);
      if (head) b.write(head);
    }
    const fail = (err: unknown) => {
      failure = err;
      for (const b of branches) b.destroy(err instanceof Error ? err : new Error(String(err)));
    };
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        if (failure) continue; // keep draining the source, drop the data
        total += chunk.length;
        try {
          if (total > maxSize) throw new DeliveryError(552, '5.3.4 Message exceeds the maximum size');
          if (signal.aborted) throw signal.reason;
          await Promise.all(
            branches.map(async (b) => {
              if (!b.write(chunk)) await once(b, 'drain', { signal });
            }),
          );
        } catch (err) {
          fail(err);
        }
      }
    } catch (err) {
      // The source itself failed (e.g. the client disconnected mid-DATA).
      if (!failure) fail(err);
    }
    // smtp-server's own count (its `size` option) has the last word too; the
    // branches are not ended yet, so no document can have been completed.
    if (!failure && (source as Readable & { sizeExceeded?: boolean }).sizeExceeded) {
      failure = new DeliveryError(552, '5.3.4 Message exceeds the maximum size');
      fail(failure);
    }
    if (failure) throw failure;
    for (const b of branches) b.end();
    return total;
  })();
  return { branches, done };
}
