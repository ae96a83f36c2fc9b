// What the load test's IMAP sessions know: each session's view of its
// selected mailbox, kept the way a client keeps it (RFC 3501 2.3.1: EXISTS
// grows it, EXPUNGE removes by sequence number, FETCH tells UIDs and flags),
// with every response that does not fit that picture recorded as a protocol
// error; and one ledger, shared by all sessions, of the messages the test
// itself put in (APPENDUID, COPYUID) and took out (the EXPUNGEs it saw).
import { fetchItems } from '../support/raw-imap.js';

/** A protocol error: what happened, in which session, during which command. */
export interface ProtocolError {
  session: number;
  command: string;
  what: string;
}

const key = (mailbox: string, uid: number): string => `${mailbox}\n${uid}`;

/**
 * Where each message the test created should be. UIDs are never reused
 * (RFC 3501 2.3.1.1), so a (mailbox, UID) names one message for good. A
 * message that ever had \Deleted (set by the test before an expunge, or
 * inherited by a copy made meanwhile) may vanish without this test seeing
 * it: a plain EXPUNGE by another session removes it, and that session may
 * not have learned its UID yet. Every other one must be exactly where the
 * ledger says.
 */
export class MessageLedger {
  private readonly identity = new Map<string, string>();
  private readonly live = new Set<string>();
  private readonly gone = new Set<string>();
  private readonly marked = new Set<string>();

  added(mailbox: string, uid: number, messageId: string): void {
    const k = key(mailbox, uid);
    this.identity.set(k, messageId);
    if (!this.gone.has(k)) this.live.add(k);
  }

  /** COPYUID pairs (src, dst): each copy is the same message, and inherits a \Deleted mark. */
  copied(from: string, to: string, pairs: Array<[number, number]>): void {
    for (const [src, dst] of pairs) {
      const id = this.identity.get(key(from, src));
      if (id === undefined) continue; // not one of ours (the test never copies those)
      this.added(to, dst, id);
      if (this.marked.has(key(from, src))) this.marked.add(key(to, dst));
    }
  }

  expunged(mailbox: string, uid: number): void {
    const k = key(mailbox, uid);
    this.live.delete(k);
    this.gone.add(k);
  }

  /** Called before \Deleted is stored on it. */
  mark(mailbox: string, uid: number): void {
    this.marked.add(key(mailbox, uid));
  }

  isMarked(mailbox: string, uid: number): boolean {
    return this.marked.has(key(mailbox, uid));
  }

  isLive(mailbox: string, uid: number): boolean {
    return this.live.has(key(mailbox, uid));
  }

  idOf(mailbox: string, uid: number): string | undefined {
    return this.identity.get(key(mailbox, uid));
  }

  /**
   * Compares the ledger with what the mailboxes hold at the end (Message-ID
   * by mailbox and UID, for the messages the test created). Returns the
   * discrepancies.
   */
  check(present: Array<{ mailbox: string; uid: number; messageId: string }>): string[] {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const p of present) {
      const k = key(p.mailbox, p.uid);
      seen.add(k);
      const id = this.identity.get(k);
      if (id === undefined) problems.push(`${p.mailbox} UID ${p.uid} (${p.messageId}): not put there by any command`);
      else if (id !== p.messageId) problems.push(`${p.mailbox} UID ${p.uid}: holds ${p.messageId}, expected ${id}`);
      else if (this.gone.has(k)) problems.push(`${p.mailbox} UID ${p.uid} (${id}): expunged, but back`);
    }
    for (const k of this.live) {
      if (seen.has(k) || this.marked.has(k)) continue;
      const [mailbox, uid] = k.split('\n');
      problems.push(`${mailbox} UID ${uid} (${this.identity.get(k)}): missing (never \\Deleted)`);
    }
    return problems;
  }

  get size(): number {
    return this.live.size;
  }
}

/** A session's picture of its selected mailbox. UID 0 = not learned yet. */
export class MailboxView {
  uids: number[] = [];
  readonly flags = new Map<number, string[]>();
  /** Messages expunged before this session learned their UID. */
  unknownExpunges = 0;

  constructor(
    readonly mailbox: string,
    readonly readOnly: boolean,
  ) {}

  firstUnknown(): number {
    return this.uids.indexOf(0) + 1; // 0 when all known
  }

  known(): number[] {
    return this.uids.filter((u) => u !== 0);
  }
}

/** Untagged responses every selected-state command may carry (RFC 3501 7.4.1, 5.2). */
export type Expect = 'SEARCH' | 'STATUS' | 'LIST' | 'SELECT' | 'COPYUID';

/**
 * Applies one untagged response to `view` (null: nothing selected); returns
 * an error text when it does not fit, plus what a command-specific response
 * carried (SEARCH numbers, the COPYUID of MOVE).
 */
export function applyUntagged(
  view: MailboxView | null,
  response: Buffer,
  expect: ReadonlySet<Expect>,
  ledger: MessageLedger,
  out: { search?: number[]; searchView?: number[]; copyUid?: string; fetched?: Map<number, Buffer> },
): string | null {
  const text = response.toString('latin1');
  const head = text.split('\r\n', 1)[0]!;
  let m: RegExpExecArray | null;
  if ((m = /^\* (\d+) (EXISTS|RECENT|EXPUNGE|FETCH)\b/i.exec(head))) {
    if (!view) return `${m[2]} with no mailbox selected`;
    const n = Number(m[1]);
    const kind = m[2]!.toUpperCase();
    if (kind === 'RECENT') return null;
    if (kind === 'EXISTS') {
      if (n < view.uids.length) return `EXISTS ${n} below the ${view.uids.length} messages known (only EXPUNGE removes messages)`;
      while (view.uids.length < n) view.uids.push(0);
      return null;
    }
    if (n < 1 || n > view.uids.length) return `${kind} for message ${n} of ${view.uids.length}`;
    if (kind === 'EXPUNGE') {
      const [uid] = view.uids.splice(n - 1, 1);
      if (uid === 0) view.unknownExpunges++;
      else {
        view.flags.delete(uid!);
        ledger.expunged(view.mailbox, uid!);
      }
      return null;
    }
    return applyFetch(view, n, response, out);
  }
  if ((m = /^\* (SEARCH|STATUS|LIST|FLAGS|CAPABILITY|OK|NO|BAD|BYE|PREAUTH|ENABLED|VANISHED|NAMESPACE|ID|LSUB)\b/i.exec(head))) {
    const kind = m[1]!.toUpperCase();
    if (kind === 'SEARCH' && expect.has('SEARCH')) {
      out.search = head.slice('* SEARCH'.length).trim().split(/\s+/).filter(Boolean).map(Number);
      out.searchView = [...(view?.uids ?? [])];
      return null;
    }
    if (kind === 'STATUS' && expect.has('STATUS')) return null;
    if (kind === 'LIST' && expect.has('LIST')) return null;
    if ((kind === 'FLAGS' || kind === 'OK') && expect.has('SELECT')) return null;
    if (kind === 'OK' && expect.has('COPYUID')) {
      const code = /\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]/i.exec(head);
      if (code) {
        out.copyUid = code[0];
        return null;
      }
    }
  }
  return `unexpected: ${head.slice(0, 200)}`;
}

/** A FETCH response: its UID must match what the view knows; it tells flags (and maybe a body). */
function applyFetch(view: MailboxView, seq: number, response: Buffer, out: { fetched?: Map<number, Buffer> }): string | null {
  let items: ReturnType<typeof fetchItems>;
  try {
    items = fetchItems(response);
  } catch (err) {
    return `FETCH that does not parse: ${(err as Error).message}`;
  }
  const known = view.uids[seq - 1]!;
  let uid = known;
  const uidItem = items.get('UID')?.value;
  if (uidItem !== undefined) {
    uid = Number(uidItem);
    if (!Number.isInteger(uid) || uid < 1) return `FETCH: bad UID ${String(uidItem)}`;
    if (known === 0) {
      // UIDs ascend with sequence numbers (RFC 3501 2.3.1.1).
      const before = view.uids.slice(0, seq - 1).filter((u) => u !== 0).at(-1) ?? 0;
      const after = view.uids.slice(seq).find((u) => u !== 0) ?? Infinity;
      if (uid <= before || uid >= after) return `FETCH: UID ${uid} at message ${seq} is out of order (${before} < ? < ${after})`;
      view.uids[seq - 1] = uid;
    } else if (known !== uid) {
      return `FETCH: message ${seq} is UID ${known}, the server says UID ${uid}`;
    }
  }
  const flags = items.get('FLAGS')?.value;
  if (flags !== undefined) {
    if (uid === 0) return `FETCH FLAGS for message ${seq} whose UID is not known (no UID item)`;
    if (!Array.isArray(flags)) return `FETCH FLAGS is not a list`;
    view.flags.set(uid, flags.map(String));
  }
  const body = items.get('BODY[]')?.value;
  if (Buffer.isBuffer(body) && uid !== 0) {
    const size = items.get('RFC822.SIZE')?.value;
    if (size !== undefined && Number(size) !== body.length) return `FETCH UID ${uid}: RFC822.SIZE ${String(size)} but BODY[] has ${body.length} bytes`;
    (out.fetched ??= new Map()).set(uid, body);
  }
  return null;
}

/** Flags compared as sets, ignoring \Recent (it is per session by definition, RFC 3501 2.3.2). */
export function sameFlags(a: string[] = [], b: string[] = []): boolean {
  const norm = (f: string[]): string => f.filter((x) => x.toLowerCase() !== '\\recent').map((x) => x.toLowerCase()).sort().join(' ');
  return norm(a) === norm(b);
}
