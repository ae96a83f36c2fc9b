// One entry as the in-memory index holds it. At 100k messages the index is
// mostly these, so the entry document is kept flattened: one object (not an
// entry, a document and a flags object with a [state, stamp] array per
// flag), the mailbox id shared with every entry of that mailbox, and the
// flag states (needed only when a change is merged in) packed into one
// string. `doc` rebuilds the document when a write needs it.
import type { EntryDoc, FlagState, Stamp } from './documents.js';

// Flag names are IMAP atoms and stamps HLC strings: neither holds these.
const FIELD = '\u0000';
const RECORD = '\u0001';

/** Mailbox ids are few: one shared string each instead of one per entry. */
const mailboxIds = new Map<string, string>();
function sharedMailboxId(id: string): string {
  const known = mailboxIds.get(id);
  if (known !== undefined) return known;
  if (mailboxIds.size < 10_000) mailboxIds.set(id, id);
  return id;
}

/**
 * The flag states as one string: name FIELD state(0|1) stamp, RECORD between
 * flags. A state that does not fit (a separator inside, a malformed document
 * from another device) keeps the object as it is.
 */
function pack(flags: Record<string, FlagState>): string | Record<string, FlagState> {
  const parts: Array<string | number> = [];
  for (const f in flags) {
    const [on, at] = flags[f];
    const fits = (on === 0 || on === 1) && typeof at === 'string' && !/[\u0000\u0001]/.test(f) && !/[\u0000\u0001]/.test(at);
    if (!fits) return structuredClone(flags);
    if (parts.length > 0) parts.push(RECORD);
    parts.push(f, FIELD, on, at);
  }
  // join makes one flat string; `+=` would keep a rope holding every piece.
  return parts.join('');
}

export class EntryRec {
  /** 0 = never shown on this device (arrived already expunged). */
  uid = 0;
  modseq = 0;
  mailbox: string;
  hash: string;
  size: number;
  internalDate: number;
  expunged: Stamp | null;
  private states: string | Record<string, FlagState>;
  /** Active flags (a shared, frozen list). */
  flags: readonly string[];

  constructor(
    readonly id: string,
    doc: EntryDoc,
    flags: readonly string[],
  ) {
    this.mailbox = sharedMailboxId(doc.mailbox);
    this.hash = doc.hash;
    this.size = doc.size;
    this.internalDate = doc.internalDate;
    this.expunged = doc.expunged;
    this.states = pack(doc.flags);
    this.flags = flags;
  }

  /** The entry document (a new object on every read). */
  get doc(): EntryDoc {
    return {
      v: 1,
      mailbox: this.mailbox,
      hash: this.hash,
      size: this.size,
      internalDate: this.internalDate,
      flags: this.flagStates(),
      expunged: this.expunged,
    };
  }

  set doc(doc: EntryDoc) {
    this.mailbox = sharedMailboxId(doc.mailbox);
    this.hash = doc.hash;
    this.size = doc.size;
    this.internalDate = doc.internalDate;
    this.expunged = doc.expunged;
    this.states = pack(doc.flags);
  }

  /** Each flag's [set/cleared, stamp]. */
  flagStates(): Record<string, FlagState> {
    if (typeof this.states !== 'string') return structuredClone(this.states);
    const out: Record<string, FlagState> = {};
    if (this.states === '') return out;
    for (const rec of this.states.split(RECORD)) {
      const sep = rec.indexOf(FIELD);
      out[rec.slice(0, sep)] = [rec.charCodeAt(sep + 1) === 0x31 ? 1 : 0, rec.slice(sep + 2)];
    }
    return out;
  }
}
