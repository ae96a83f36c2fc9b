// Mailbox names: '/' is the hierarchy delimiter; INBOX is case-insensitive
// (RFC 3501 5.1), so "inbox" and "Inbox/Sub" mean "INBOX" and "INBOX/Sub".
import { MailStoreError, type SpecialUse } from '../mailstore.js';

export const DELIMITER = '/';

export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: SpecialUse | null }> = [
  { name: 'INBOX', specialUse: null },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Archive', specialUse: '\\Archive' },
];

/** The canonical form of a name, for lookup and storage. */
export function normalizeName(name: string): string {
  let n = name;
  // RFC 3501 6.3.3: a trailing delimiter only declares the intent to create a hierarchy.
  while (n.length > 1 && n.endsWith(DELIMITER)) n = n.slice(0, -1);
  const head = n.split(DELIMITER, 1)[0];
  if (head.toUpperCase() === 'INBOX') n = 'INBOX' + n.slice(head.length);
  return n;
}

/** Throws CANNOT for names a mailbox cannot have. */
export function checkNewName(name: string): void {
  if (name.length === 0 || name.length > 1000) throw new MailStoreError('CANNOT', 'Invalid mailbox name');
  if (/[\x00-\x1f\x7f*%]/.test(name)) throw new MailStoreError('CANNOT', 'Invalid characters in mailbox name');
  if (name.startsWith(DELIMITER) || name.split(DELIMITER).some((p) => p.length === 0)) {
    throw new MailStoreError('CANNOT', 'Empty hierarchy level in mailbox name');
  }
}

/** "a/b/c" -> ["a", "a/b"]. */
export function parentNames(name: string): string[] {
  const parts = name.split(DELIMITER);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(DELIMITER));
  return out;
}

export function isInferior(name: string, of: string): boolean {
  return name.startsWith(of + DELIMITER);
}

export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
