// Mailbox names between the wire and the store: modified UTF-7 on the wire
// (RFC 3501 5.1.3) unless UTF8=ACCEPT is enabled (RFC 6855 3), '/' as the
// hierarchy delimiter, and INBOX case-insensitive (RFC 3501 5.1).
import { bad, no } from './errors.js';
import { encodeMutf7, decodeMutf7 } from './wire/mutf7.js';
import { str, type ImapValue } from './response/values.js';
import { tokenText, type Token } from './wire/tokens.js';

export const DELIMITER = '/';

/** The store name of a mailbox argument (astring). */
export function mailboxFromToken(token: Token | undefined, utf8: boolean): string {
  const text = tokenText(token);
  if (text === null) throw bad('Expected a mailbox name');
  if (utf8) return normalizeMailbox(text);
  try {
    return normalizeMailbox(decodeMutf7(text));
  } catch {
    // Well-formed syntax, unusable name: NO, as Dovecot answers.
    throw no('Mailbox name is not valid modified UTF-7', 'CANNOT');
  }
}

/** A LIST/LSUB reference or pattern: decoded when it is valid modified UTF-7, else taken as is (it then matches nothing). */
export function patternFromToken(token: Token | undefined, utf8: boolean): string {
  const text = tokenText(token);
  if (text === null) throw bad('Expected a mailbox pattern');
  if (utf8) return text;
  try {
    return decodeMutf7(text);
  } catch {
    return text;
  }
}

export function normalizeMailbox(name: string): string {
  if (name.toUpperCase() === 'INBOX') return 'INBOX';
  if (name.toUpperCase().startsWith('INBOX' + DELIMITER)) return 'INBOX' + name.slice(5);
  return name;
}

/** The wire form of a store name. */
export function mailboxValue(name: string, utf8: boolean): ImapValue {
  return str(utf8 ? name : encodeMutf7(name));
}

/** Rejects names the hierarchy cannot hold (empty levels, control characters): NO [CANNOT], as Dovecot answers. */
export function validateNewMailboxName(name: string): string {
  const trimmed = name.endsWith(DELIMITER) ? name.slice(0, -1) : name;
  if (trimmed === '') throw no('Empty mailbox name', 'CANNOT');
  if (/[\x00-\x1f\x7f]/.test(trimmed)) throw no('Mailbox name contains control characters', 'CANNOT');
  if (trimmed.split(DELIMITER).some((part) => part === '')) throw no('Mailbox name has an empty hierarchy level', 'CANNOT');
  if (/[*%]/.test(trimmed)) throw no('Mailbox name may not contain * or %', 'CANNOT');
  return trimmed;
}
