// Reading one recipient's plaintext branch for encryption: a small message
// is gathered whole (encrypted in one call: OpenPGP.js streaming costs ~6–10
// ms per message in web-stream overhead, more than the whole encryption of a
// typical 15 KB message); a larger one is read on as a stream after its
// head. Either way at most BUFFERED_MAX bytes per recipient are held.
import type { Readable } from 'node:stream';

export const BUFFERED_MAX = 256 * 1024;

export type Plaintext =
  | { whole: true; chunks: Buffer[]; size: number }
  /** `chunks`: the head already read; `rest`: the remainder of the branch. */
  | { whole: false; chunks: Buffer[]; rest: AsyncIterator<Buffer> };

export async function readPlaintext(branch: Readable): Promise<Plaintext> {
  const rest = (branch as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await rest.next();
    if (done) return { whole: true, chunks, size };
    chunks.push(value);
    size += value.length;
    if (size > BUFFERED_MAX) return { whole: false, chunks, rest };
  }
}

/** Every chunk of a streamed plaintext, the head first. */
export async function* streamedChunks(p: Plaintext & { whole: false }): AsyncGenerator<Buffer> {
  yield* p.chunks.splice(0);
  for (;;) {
    const { value, done } = await p.rest.next();
    if (done) return;
    yield value;
  }
}
