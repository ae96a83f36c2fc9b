// The streaming command parser: frames the client's byte stream into commands,
// whatever the chunking (it is fed 1 byte at a time in tests), and enforces
// the limits. Framing only looks for line ends and literal markers
// (frame-text.ts); tokenizer.ts then parses each whole command. Literals
// (RFC 3501 4.3): `{n}` gets a `+` continuation request, `{n+}` (LITERAL+,
// RFC 7888) does not, `~{n}` is literal8 (BINARY, RFC 3516). The message
// literal of APPEND is streamed, not buffered (append-literal.ts).
import type { PassThrough } from 'node:stream';
import { ImapError, bad } from '../errors.js';
import { tokenizeFrame, type CommandFrame } from './tokenizer.js';
import type { ParsedCommand } from './tokens.js';
import { LF, literalMarker, stripCR, tagOf } from './frame-text.js';
import { createLiteralStream, isAppendMessageLiteral, isEmptyTail, withoutLastMarker, writeMessageBytes } from './append-literal.js';

import type { ParserEvent, ParserOptions } from './parser-events.js';

export type { LiteralStream } from './append-literal.js';
export type { ParserEvent, ParserOptions } from './parser-events.js';

/** Commands after which the parser holds further input until the session says how to read it. */
const HOLDING_COMMANDS = new Set(['IDLE', 'AUTHENTICATE', 'STARTTLS', 'LOGOUT']);

type State =
  | { s: 'line' }
  | { s: 'literal'; remaining: number; parts: Buffer[]; binary: boolean }
  | { s: 'stream'; remaining: number; out: PassThrough }
  | { s: 'afterStream'; out: PassThrough; tail: Buffer[] }
  | { s: 'discard'; remaining: number }
  | { s: 'skipLine'; tail: Buffer }
  | { s: 'held' }
  | { s: 'awaitAccept'; remaining: number; out: PassThrough }
  | { s: 'rawLine' }
  | { s: 'closed' };

export class CommandParser {
  private readonly maxLine: number;
  private readonly maxInline: number;
  private readonly maxCommandLiterals: number;
  private readonly maxAppend: number;
  private state: State = { s: 'line' };
  /** Input not yet consumed (only non-empty while held or between steps). */
  private input: Buffer[] = [];
  private frame: CommandFrame = { texts: [], literals: [] };
  private current: Buffer[] = [];
  private currentLength = 0;
  private frameTextLength = 0;
  private frameLiteralBytes = 0;
  /** Set when the command being framed is already known to be bad: skip to its end, then report. */
  private failure: { tag: string; error: ImapError } | null = null;
  private processing = false;
  private heldPaused = false;

  constructor(private readonly opts: ParserOptions) {
    this.maxLine = opts.maxLineLength ?? 64 * 1024;
    this.maxInline = opts.maxInlineLiteral ?? 64 * 1024;
    this.maxCommandLiterals = opts.maxCommandLiterals ?? 16 * this.maxInline;
    this.maxAppend = opts.maxAppendLiteral ?? 50 * 1024 * 1024;
  }

  feed(chunk: Buffer): void {
    if (this.state.s === 'closed' || chunk.length === 0) return;
    this.input.push(chunk);
    this.run();
    // While held (IDLE...) or awaiting an APPEND's accept, input waits here: stop reading once a line's worth is buffered.
    const waiting = this.state.s === 'held' || this.state.s === 'awaitAccept';
    if (waiting && !this.heldPaused && this.input.reduce((n, b) => n + b.length, 0) > this.maxLine) {
      this.heldPaused = true;
      this.opts.pause();
    }
  }

  /** After a holding command: read the next line raw (delivered as a 'line' event). */
  expectLine(): void {
    if (this.state.s !== 'held') return;
    this.state = { s: 'rawLine' };
    this.unhold();
  }

  /** After a holding command: go back to parsing commands (buffered input first). */
  release(): void {
    if (this.state.s !== 'held') return;
    this.state = { s: 'line' };
    this.unhold();
  }

  private unhold(): void {
    this.run();
    if (this.heldPaused) {
      this.heldPaused = false;
      this.opts.resume();
    }
  }

  /** STARTTLS/LOGOUT: drop everything buffered and parse nothing more (RFC 3501 6.2.1: no plaintext injection). */
  close(): void {
    const st = this.state;
    if (st.s === 'stream' || st.s === 'afterStream' || st.s === 'awaitAccept') st.out.destroy(bad('Connection closed'));
    this.state = { s: 'closed' };
    this.input = [];
  }

  private run(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.input.length > 0) {
        const s = this.state.s;
        if (s === 'held' || s === 'closed' || s === 'awaitAccept') break;
        const chunk = this.input[0]!;
        const used = this.step(chunk);
        if (used >= chunk.length) this.input.shift();
        else this.input[0] = chunk.subarray(used);
      }
    } finally {
      this.processing = false;
    }
  }

  /** Consumes a prefix of `chunk`; returns how many bytes were used. */
  private step(chunk: Buffer): number {
    const st = this.state;
    switch (st.s) {
      case 'line':
      case 'rawLine':
        return this.stepLine(chunk);
      case 'literal': {
        const n = Math.min(st.remaining, chunk.length);
        st.parts.push(chunk.subarray(0, n));
        st.remaining -= n;
        if (st.remaining === 0) {
          this.frame.literals.push({ data: Buffer.concat(st.parts), binary: st.binary });
          this.state = { s: 'line' };
        }
        return n;
      }
      case 'stream': {
        const n = Math.min(st.remaining, chunk.length);
        st.remaining -= n;
        if (st.remaining === 0) this.state = { s: 'afterStream', out: st.out, tail: [] };
        writeMessageBytes(st.out, chunk.subarray(0, n), this.opts);
        return n;
      }
      case 'afterStream': {
        const lf = chunk.indexOf(LF);
        const part = lf < 0 ? chunk : chunk.subarray(0, lf);
        st.tail.push(part);
        if (lf < 0) {
          if (Buffer.concat(st.tail).length > 2) this.endStreamBadly(st.out);
          return chunk.length;
        }
        if (isEmptyTail(Buffer.concat(st.tail))) {
          if (!st.out.destroyed) st.out.end();
        } else st.out.destroy(bad('Unexpected data after APPEND message (MULTIAPPEND is not supported)'));
        if (this.state === st) this.state = { s: 'line' };
        return lf + 1;
      }
      case 'discard': {
        const n = Math.min(st.remaining, chunk.length);
        st.remaining -= n;
        if (st.remaining === 0) this.state = { s: 'line' };
        return n;
      }
      case 'skipLine': {
        const lf = chunk.indexOf(LF);
        if (lf < 0) {
          st.tail = Buffer.concat([st.tail, chunk]).subarray(-32);
          return chunk.length;
        }
        const tail = Buffer.concat([st.tail, chunk.subarray(0, lf)]).subarray(-32);
        this.state = { s: 'line' };
        this.lineEnded(stripCR(tail), true);
        return lf + 1;
      }
      default:
        return chunk.length;
    }
  }

  private endStreamBadly(out: PassThrough): void {
    out.destroy(bad('Unexpected data after APPEND message (MULTIAPPEND is not supported)'));
    this.state = { s: 'skipLine', tail: Buffer.alloc(0) };
  }

  private stepLine(chunk: Buffer): number {
    const lf = chunk.indexOf(LF);
    const part = lf < 0 ? chunk : chunk.subarray(0, lf);
    this.current.push(part);
    this.currentLength += part.length;
    if (this.frameTextLength + this.currentLength > this.maxLine) {
      const tag = this.guessTag();
      this.resetFrame();
      if (this.state.s === 'rawLine') {
        this.close();
        this.opts.onEvent({ kind: 'fatal', error: bad('Line too long', 'LIMIT') });
        return chunk.length;
      }
      this.failure = { tag, error: bad('Command line too long', 'LIMIT') };
      this.state = { s: 'skipLine', tail: part.subarray(-32) };
      return lf < 0 ? chunk.length : lf;
    }
    if (lf < 0) return chunk.length;
    const line = stripCR(Buffer.concat(this.current));
    this.current = [];
    this.currentLength = 0;
    if (this.state.s === 'rawLine') {
      this.state = { s: 'held' };
      this.opts.onEvent({ kind: 'line', text: line.toString('utf8') });
    } else {
      this.lineEnded(line, false);
    }
    return lf + 1;
  }

  /** A line of the current command ended: either a literal follows, or the command is complete. */
  private lineEnded(line: Buffer, skipped: boolean): void {
    const m = literalMarker(line);
    if (!skipped) {
      this.frame.texts.push(line);
      this.frameTextLength += line.length;
    }
    if (!m) {
      this.commandEnded();
      return;
    }
    const { binary, size, sync } = m;
    if (this.failure || skipped) {
      // The command is already bad: never invite a synchronizing literal; skip a non-synchronizing one.
      if (sync) this.commandEnded();
      else this.state = { s: 'discard', remaining: size };
      return;
    }
    const appendMessage = isAppendMessageLiteral(this.frame);
    // Many small literals in one command must not add up to an unbounded buffer either.
    const limit = appendMessage ? this.maxAppend : Math.max(0, Math.min(this.maxInline, this.maxCommandLiterals - this.frameLiteralBytes));
    if (size > limit) {
      const tag = this.guessTag();
      const error = appendMessage
        ? new ImapError('NO', `Message too big (max ${limit} bytes)`, 'TOOBIG')
        : bad(`Literal too big (max ${limit} bytes)`, 'LIMIT');
      if (sync) {
        // RFC 3501 7.5: answering instead of "+" ends the command; the client sends no data.
        this.resetFrame();
        this.opts.onEvent({ kind: 'error', tag, error });
      } else if (size > this.maxAppend) {
        this.resetFrame();
        this.state = { s: 'closed' };
        this.input = [];
        this.opts.onEvent({ kind: 'fatal', error: bad('Non-synchronizing literal too big', 'TOOBIG') });
      } else {
        this.failure = { tag, error };
        this.state = { s: 'discard', remaining: size };
      }
      return;
    }
    if (appendMessage) {
      this.startStream(size, sync);
      return;
    }
    if (sync) this.opts.onContinue('Ready for literal data');
    if (size === 0) {
      this.frame.literals.push({ data: Buffer.alloc(0), binary });
    } else {
      this.frameLiteralBytes += size;
      this.state = { s: 'literal', remaining: size, parts: [], binary };
    }
  }

  private startStream(size: number, sync: boolean): void {
    let command: ParsedCommand;
    try {
      // The command up to (not including) the message literal.
      command = tokenizeFrame(withoutLastMarker(this.frame));
    } catch (err) {
      const tag = this.guessTag();
      this.resetFrame();
      this.failure = { tag, error: err instanceof ImapError ? err : bad('Syntax error') };
      this.state = { s: 'discard', remaining: size };
      return;
    }
    this.resetFrame();
    const { stream, literal } = createLiteralStream(size, (s) => this.acceptLiteral(s), (s) => this.rejectLiteral(s));
    if (sync) this.state = { s: 'awaitAccept', remaining: size, out: stream };
    else this.receiveLiteral(stream, size);
    this.opts.onEvent({ kind: 'command', command, literal });
  }

  private receiveLiteral(out: PassThrough, size: number): void {
    if (size === 0) this.state = { s: 'afterStream', out, tail: [] };
    else this.state = { s: 'stream', remaining: size, out };
  }

  private acceptLiteral(out: PassThrough): void {
    const st = this.state;
    if (st.s !== 'awaitAccept' || st.out !== out) return;
    this.opts.onContinue('Ready for literal data');
    this.receiveLiteral(out, st.remaining);
    this.unhold();
  }

  private rejectLiteral(out: PassThrough): void {
    const st = this.state;
    if (st.s !== 'awaitAccept' || st.out !== out) return;
    // RFC 3501 7.5: the command was answered instead of "+": the client sends no literal.
    out.destroy();
    this.state = { s: 'line' };
    this.unhold();
  }

  private commandEnded(): void {
    const frame = this.frame;
    const failure = this.failure;
    this.resetFrame();
    if (failure) {
      this.opts.onEvent({ kind: 'error', tag: failure.tag, error: failure.error });
      return;
    }
    if (frame.texts.length === 1 && frame.texts[0]!.length === 0) return; // empty line: ignore
    // Only a skipped remainder (the rest of the line after an APPEND message that already got its BAD): nothing to answer.
    if (frame.texts.length === 0) return;
    let command: ParsedCommand;
    try {
      command = tokenizeFrame(frame);
    } catch (err) {
      const error = err instanceof ImapError ? err : bad('Syntax error');
      this.opts.onEvent({ kind: 'error', tag: tagOf(frame.texts[0]!), error });
      return;
    }
    if (HOLDING_COMMANDS.has(command.name)) this.state = { s: 'held' };
    this.opts.onEvent({ kind: 'command', command });
  }

  private guessTag(): string {
    const first = this.frame.texts[0] ?? Buffer.concat(this.current);
    return tagOf(first);
  }

  private resetFrame(): void {
    this.frame = { texts: [], literals: [] };
    this.frameTextLength = 0;
    this.frameLiteralBytes = 0;
    this.current = [];
    this.currentLength = 0;
    this.failure = null;
  }
}
