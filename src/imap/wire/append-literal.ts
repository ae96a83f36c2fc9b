// APPEND's message literal (RFC 3501 6.3.11) is not buffered: the parser
// hands the command over as soon as the literal starts, and the bytes flow
// through a stream with backpressure. This file holds that stream and what
// the parser asks about it: is the literal just announced the message, what
// is the command before it, and may the line go on after it.
import { PassThrough, type Readable } from 'node:stream';
import { LITERAL_MARKER, tokenizeFrame, type CommandFrame } from './tokenizer.js';
import { beforeMarker, CR } from './frame-text.js';

/**
 * APPEND's message, streamed from the wire: exactly `size` bytes, ending after the command's CRLF.
 * For a synchronizing literal the client waits for "+": the handler calls accept() once it has
 * checked the command (so a missing mailbox is refused before 25 MB are uploaded); the dispatcher
 * calls reject() for a command that never accepted, and the client then sends nothing.
 */
export type LiteralStream = Readable & { size: number; accept(): void; reject(): void };

/** Is the literal just announced (at the end of the frame's last text) the message of an APPEND (top level, after the mailbox)? */
export function isAppendMessageLiteral(frame: CommandFrame): boolean {
  const first = frame.texts[0]!;
  const head = /^[^ ]+ APPEND /i.exec(first.toString('latin1', 0, Math.min(first.length, 80)));
  if (!head) return false;
  const last = frame.texts[frame.texts.length - 1]!;
  const marker = LITERAL_MARKER.exec(last.toString('latin1'))!;
  if (marker.index === 0 || last[marker.index - 1] !== 0x20) return false;
  try {
    return tokenizeFrame(withoutLastMarker(frame)).args.length >= 1;
  } catch {
    return false; // e.g. the literal is inside a list: not the message
  }
}

/** The frame up to (not including) the literal its last text announces. */
export function withoutLastMarker(frame: CommandFrame): CommandFrame {
  return { texts: [...frame.texts.slice(0, -1), beforeMarker(frame.texts[frame.texts.length - 1]!)], literals: frame.literals };
}

/** The stream a handler reads the message from; accept/reject go back to the parser. */
export function createLiteralStream(size: number, accept: (stream: PassThrough) => void, reject: (stream: PassThrough) => void): { stream: PassThrough; literal: LiteralStream } {
  const stream = new PassThrough({ highWaterMark: 256 * 1024 });
  // Its consumer sees errors through reading; one nobody reads (the command is still queued when
  // the connection drops) must not become an uncaught 'error' that takes the daemon down.
  stream.on('error', () => undefined);
  const literal: LiteralStream = Object.assign(stream, { size, accept: () => accept(stream), reject: () => reject(stream) });
  return { stream, literal };
}

/** Writes message bytes; when the consumer is behind, reading stops until it drains (or gives up: then the rest is discarded). */
export function writeMessageBytes(out: PassThrough, bytes: Buffer, flow: { pause(): void; resume(): void }): void {
  // A handler that gave up on the message destroys the stream: the rest is discarded.
  if (out.destroyed || out.write(bytes)) return;
  flow.pause();
  const resume = (): void => {
    out.off('drain', resume);
    out.off('close', resume);
    flow.resume();
  };
  out.once('drain', resume);
  out.once('close', resume);
}

/** What may follow the message on its line: nothing but the CRLF (no MULTIAPPEND). */
export function isEmptyTail(tail: Buffer): boolean {
  return tail.length === 0 || (tail.length === 1 && tail[0] === CR);
}
