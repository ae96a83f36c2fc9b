// What LIST and LSUB show (RFC 3501 6.3.8-6.3.9, RFC 5258, RFC 6154): pattern
// matching of reference + pattern ("*" matches anything, "%" anything but the
// delimiter), the hierarchy attributes \HasChildren / \HasNoChildren, implied
// parents that do not exist (\Noselect \NonExistent), subscription and
// special-use attributes.
import type { MailboxInfo } from '../../mail/mailstore.js';
import { DELIMITER, normalizeMailbox } from '../mailbox-names.js';

export interface ListEntry {
  name: string;
  attributes: string[];
  /** RFC 5258 CHILDINFO extended data (SUBSCRIBED selection with RECURSIVEMATCH). */
  childInfoSubscribed?: boolean;
}

export interface ListQuery {
  patterns: string[];
  /** Selection: only subscribed mailboxes (RFC 5258 3.1). */
  subscribedOnly: boolean;
  recursiveMatch: boolean;
  /** Selection: only mailboxes with a special use (RFC 6154 5.1). */
  specialUseOnly: boolean;
  /** Return \Subscribed (RFC 5258 3.2; implied by the SUBSCRIBED selection option). */
  returnSubscribed: boolean;
  /** Return special-use attributes (always on: RFC 6154 lets servers send them by default). */
  returnSpecialUse: boolean;
  /** Return \HasChildren/\HasNoChildren. */
  returnChildren: boolean;
}

export function patternRegex(reference: string, pattern: string): RegExp {
  let full = reference;
  if (reference && !reference.endsWith(DELIMITER) && pattern && !pattern.startsWith(DELIMITER)) full += DELIMITER;
  full += pattern;
  let re = '';
  for (const ch of full) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^/]*';
    else re += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  // INBOX is case-insensitive (RFC 3501 5.1): compare against a normalized name.
  return new RegExp(`^${re}$`, 's');
}

function matchesAny(name: string, regexes: RegExp[]): boolean {
  const alt = name.toUpperCase() === 'INBOX' || name.toUpperCase().startsWith('INBOX/') ? ['INBOX', 'inbox', 'Inbox'] : [];
  return regexes.some((re) => re.test(name) || alt.some((prefix) => re.test(prefix + name.slice(5))));
}

export function listMailboxes(mailboxes: MailboxInfo[], reference: string, q: ListQuery): ListEntry[] {
  const regexes = q.patterns.map((p) => patternRegex(normalizeMailbox(reference), p));
  const existing = new Map(mailboxes.map((m) => [m.name, m]));
  // All names in the hierarchy, including implied parents of existing mailboxes.
  const all = new Set<string>(existing.keys());
  // Every ancestor of a mailbox is a name with children.
  const parents = new Set<string>();
  const subscribedDescendant = new Set<string>();
  for (const m of mailboxes) {
    const parts = m.name.split(DELIMITER);
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join(DELIMITER);
      all.add(parent);
      parents.add(parent);
      if (m.subscribed) subscribedDescendant.add(parent);
    }
  }
  const hasChildren = (name: string): boolean => parents.has(name);
  const out: ListEntry[] = [];
  for (const name of [...all].sort(compareNames)) {
    if (!matchesAny(name, regexes)) continue;
    const box = existing.get(name);
    const attributes: string[] = [];
    if (!box) attributes.push('\\NonExistent', '\\Noselect');
    if (q.subscribedOnly && !box?.subscribed) {
      if (q.recursiveMatch && subscribedDescendant.has(name)) {
        out.push({ name, attributes, childInfoSubscribed: true });
      }
      continue;
    }
    if (q.specialUseOnly && !box?.specialUse) continue;
    if (!box && !hasChildren(name)) continue;
    if (q.returnChildren) attributes.push(hasChildren(name) ? '\\HasChildren' : '\\HasNoChildren');
    if (q.returnSubscribed && box?.subscribed) attributes.push('\\Subscribed');
    if (q.returnSpecialUse && box?.specialUse) attributes.push(box.specialUse);
    const entry: ListEntry = { name, attributes };
    if (q.subscribedOnly && q.recursiveMatch && subscribedDescendant.has(name)) entry.childInfoSubscribed = true;
    out.push(entry);
  }
  return out;
}

/** INBOX first, then by name. */
function compareNames(a: string, b: string): number {
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
