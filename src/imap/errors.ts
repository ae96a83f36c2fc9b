// The one error type of the IMAP engine. A command handler throws ImapError to
// end its command with a tagged NO or BAD (RFC 3501 7.1) carrying an optional
// response code (RFC 5530 for most codes). The dispatcher turns any other
// error into `NO [SERVERBUG]` so that no stack trace ever reaches a client.
import { MailStoreError } from '../mail/mailstore.js';

export type ImapStatus = 'NO' | 'BAD';

export type ImapResponseCodeName =
  | 'TRYCREATE'
  | 'NONEXISTENT'
  | 'ALREADYEXISTS'
  | 'CANNOT'
  | 'CLIENTBUG'
  | 'SERVERBUG'
  | 'OVERQUOTA'
  | 'LIMIT'
  | 'TOOBIG'
  | 'AUTHENTICATIONFAILED'
  | 'PRIVACYREQUIRED'
  | 'UNAVAILABLE'
  | 'CORRUPTION'
  | 'PARSE'
  | 'BADCHARSET'
  | 'NOPERM'
  | 'INUSE'
  | 'EXPUNGEISSUED';

export class ImapError extends Error {
  constructor(
    readonly status: ImapStatus,
    /** Human-readable text after the status (never contains CR/LF). */
    readonly text: string,
    readonly code?: ImapResponseCodeName,
    /** Extra atoms inside the response code, e.g. BADCHARSET (UTF-8). */
    readonly codeArgs?: string,
  ) {
    super(text);
    this.name = 'ImapError';
  }
}

/** Shorthand for a syntax error (tagged BAD). */
export function bad(text: string, code?: ImapResponseCodeName): ImapError {
  return new ImapError('BAD', text, code);
}

/** Shorthand for an operational failure (tagged NO). */
export function no(text: string, code?: ImapResponseCodeName): ImapError {
  return new ImapError('NO', text, code);
}

/** MailStore failures become NO with the matching response code (CORRUPTION maps to SERVERBUG's sibling). */
export function fromMailStoreError(err: MailStoreError): ImapError {
  const code: ImapResponseCodeName = err.code;
  return new ImapError('NO', err.message.replace(/[\r\n]+/g, ' '), code);
}
