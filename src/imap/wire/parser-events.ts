// What the command parser (parser.ts) tells the connection, and what it is
// told: its events, limits and flow-control callbacks.
import type { ImapError } from '../errors.js';
import type { LiteralStream } from './append-literal.js';
import type { ParsedCommand } from './tokens.js';

export type ParserEvent =
  /** A whole command; `literal` is the streamed APPEND message. */
  | { kind: 'command'; command: ParsedCommand; literal?: LiteralStream }
  /** A raw line asked for with expectLine() (IDLE's DONE, an AUTHENTICATE response). */
  | { kind: 'line'; text: string }
  /** A malformed command: the rest of it was skipped; answer BAD (or NO) with this tag. */
  | { kind: 'error'; tag: string; error: ImapError }
  /** The connection cannot continue (answer BYE and close). */
  | { kind: 'fatal'; error: ImapError };

export interface ParserOptions {
  /** Max bytes of command text outside literals (default 64 KiB). */
  maxLineLength?: number;
  /** Max size of a literal buffered in memory (default 64 KiB; APPEND's message is streamed instead). */
  maxInlineLiteral?: number;
  /** Max bytes of all buffered literals of one command together (default 16 x maxInlineLiteral). */
  maxCommandLiterals?: number;
  /** Max size of an APPEND message literal (default 50 MB). */
  maxAppendLiteral?: number;
  onEvent(event: ParserEvent): void;
  /** Send a continuation request (`+ text`) for a synchronizing literal. */
  onContinue(text: string): void;
  /** Ask the transport to stop / restart reading (a streamed literal's backpressure, input held during IDLE). */
  pause(): void;
  resume(): void;
}
