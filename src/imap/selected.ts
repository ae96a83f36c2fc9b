// The selected mailbox as this client sees it (RFC 3501 2.3.1): the sequence
// number <-> UID map, each message's flags/modseq as last told to the client,
// and the changes (from MailStore.subscribe) not yet announced. Changes are
// turned into responses only when the session says it is a legal moment
// (RFC 3501 5.2, 7.4.1): EXPUNGE may be held back while EXISTS/FETCH go out.
import type { MailboxChange, MailboxInfo, MessageMeta } from '../mail/mailstore.js';
import { untagged, type Response } from './response/responses.js';
import { atom, list, num } from './response/values.js';
import { compressUids } from './commands/uid-set.js';

export interface DrainOptions {
  /** May EXPUNGE (or VANISHED) responses be sent now? */
  expunges: boolean;
  /** CONDSTORE enabled: include MODSEQ in unsolicited FETCH (RFC 7162 3.2). */
  condstore: boolean;
  /** QRESYNC enabled: report expunges as VANISHED (RFC 7162 3.2.10). */
  qresync: boolean;
}

export class SelectedMailbox {
  private uids: number[];
  private readonly metas = new Map<number, MessageMeta>();
  private pending: MailboxChange[] = [];
  private heldExpunges: number[] = [];
  /** Flags/modseq last told to the client, for messages whose current state it has not been told yet. */
  private readonly told = new Map<number, { flags: string[]; modseq: number }>();
  /** Message count last announced to the client (EXISTS). */
  private announced: number;
  highestModseq: number;

  constructor(
    public info: MailboxInfo,
    messages: MessageMeta[],
    readonly readOnly: boolean,
  ) {
    const sorted = [...messages].sort((a, b) => a.uid - b.uid);
    this.uids = sorted.map((m) => m.uid);
    for (const m of sorted) this.metas.set(m.uid, m);
    this.announced = this.uids.length;
    this.highestModseq = Math.max(info.highestModseq, ...sorted.map((m) => m.modseq), 0);
  }

  get exists(): number {
    return this.uids.length;
  }

  get lastUid(): number {
    return this.uids.length > 0 ? this.uids[this.uids.length - 1]! : 0;
  }

  seqToUid(seq: number): number | undefined {
    return this.uids[seq - 1];
  }

  /** Binary search: the sequence number of a UID, or undefined if not in the view. */
  uidToSeq(uid: number): number | undefined {
    let lo = 0;
    let hi = this.uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.uids[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Sequence numbers of those UIDs that are in the view (same order, missing ones dropped). */
  uidsToSeq(uids: number[]): number[] {
    const out: number[] = [];
    for (const uid of uids) {
      const seq = this.uidToSeq(uid);
      if (seq !== undefined) out.push(seq);
    }
    return out;
  }

  /** The client's view in sequence order: messages()[seq - 1]. */
  messages(): MessageMeta[] {
    return this.uids.map((uid) => this.metas.get(uid)!);
  }

  meta(uid: number): MessageMeta | undefined {
    return this.metas.get(uid);
  }

  /** A command of this session changed a message (STORE) and told the client itself. Returns its seq. */
  updateMessage(meta: MessageMeta): number | undefined {
    const seq = this.uidToSeq(meta.uid);
    if (seq === undefined) return undefined;
    this.metas.set(meta.uid, meta);
    this.told.delete(meta.uid);
    if (meta.modseq > this.highestModseq) this.highestModseq = meta.modseq;
    return seq;
  }

  /**
   * A command of this session expunged these UIDs and will announce them itself.
   * Returns the sequence numbers to announce, in order (each valid after the previous EXPUNGE).
   */
  removeUids(uids: number[]): number[] {
    const seqs: number[] = [];
    for (const uid of [...uids].sort((a, b) => b - a)) {
      const seq = this.uidToSeq(uid);
      if (seq === undefined) continue;
      this.uids.splice(seq - 1, 1);
      this.metas.delete(uid);
      // A message the client was never told about (EXISTS still pending) vanishes silently.
      if (seq > this.announced) continue;
      this.announced--;
      seqs.push(seq);
    }
    this.heldExpunges = this.heldExpunges.filter((u) => !uids.includes(u));
    return seqs;
  }

  /**
   * Before a command: let it see the current flags of its messages (a FETCH returns what another
   * session just set, as Dovecot does), while the announcements stay queued for the next drain.
   */
  applyPendingFlags(): void {
    for (const change of this.pending) {
      if (change.kind !== 'flags') continue;
      const known = this.metas.get(change.message.uid);
      if (!known) continue;
      if (!this.told.has(known.uid)) this.told.set(known.uid, { flags: known.flags, modseq: known.modseq });
      this.metas.set(known.uid, { ...known, flags: change.message.flags, modseq: change.message.modseq });
    }
  }

  /** Queue a change from MailStore.subscribe (other mailboxes are ignored). */
  enqueue(change: MailboxChange): void {
    if (change.kind === 'mailboxes' || change.mailboxId !== this.info.id) return;
    this.pending.push(change);
  }

  hasPending(): boolean {
    return this.pending.length > 0 || this.heldExpunges.length > 0;
  }

  /** Turn queued changes into the untagged responses that may be sent now. */
  drain(opts: DrainOptions): Response[] {
    const out: Response[] = [];
    const expunged: number[] = [];
    if (opts.expunges) {
      for (const uid of this.heldExpunges) this.expungeOne(uid, opts, out, expunged);
      this.heldExpunges = [];
    }
    const changes = this.pending;
    this.pending = [];
    // No flag news for messages whose EXPUNGE goes out in this same batch.
    const vanishing = new Set<number>(opts.expunges ? changes.flatMap((c) => (c.kind === 'expunge' ? [c.uid] : [])) : []);
    for (const change of changes) {
      if (change.kind === 'exists') {
        const m = change.message;
        if (m.uid > this.lastUid) {
          this.uids.push(m.uid);
          this.metas.set(m.uid, m);
          if (m.modseq > this.highestModseq) this.highestModseq = m.modseq;
        }
      } else if (change.kind === 'flags') {
        this.flagsChanged(change.message, opts, out, vanishing);
      } else if (change.kind === 'expunge') {
        if (change.modseq > this.highestModseq) this.highestModseq = change.modseq;
        if (this.uidToSeq(change.uid) === undefined) continue;
        if (opts.expunges) this.expungeOne(change.uid, opts, out, expunged);
        else if (!this.heldExpunges.includes(change.uid)) this.heldExpunges.push(change.uid);
      }
    }
    if (opts.qresync && expunged.length > 0) {
      out.push(untagged(atom('VANISHED'), atom(compressUids(expunged))));
    }
    if (this.uids.length !== this.announced) {
      this.announced = this.uids.length;
      out.push(untagged(num(this.uids.length), atom('EXISTS')));
    }
    return out;
  }

  private flagsChanged(m: MessageMeta, opts: DrainOptions, out: Response[], vanishing: Set<number>): void {
    const seq = this.uidToSeq(m.uid);
    const known = this.metas.get(m.uid);
    if (seq === undefined || !known) return;
    const told = this.told.get(m.uid) ?? known;
    this.told.delete(m.uid);
    this.metas.set(m.uid, { ...known, flags: m.flags, modseq: m.modseq });
    if (m.modseq > this.highestModseq) this.highestModseq = m.modseq;
    if (told.modseq === m.modseq && sameFlags(told.flags, m.flags)) return;
    // Only announce messages the client knows of (seq <= announced count) and keeps.
    if (seq > this.announced || vanishing.has(m.uid)) return;
    // MODSEQ once CONDSTORE is on (RFC 7162 3.2).
    // UID is always included (QRESYNC requires it, RFC 7162 3.2.4; clients such as imapflow report it).
    const items = [atom('UID'), num(m.uid), atom('FLAGS'), list(m.flags.map(atom))];
    if (opts.condstore) items.push(atom('MODSEQ'), list([num(m.modseq)]));
    out.push(untagged(num(seq), atom('FETCH'), list(items)));
  }

  private expungeOne(uid: number, opts: DrainOptions, out: Response[], expunged: number[]): void {
    const seq = this.uidToSeq(uid);
    if (seq === undefined) return;
    const wasAnnounced = seq <= this.announced;
    this.uids.splice(seq - 1, 1);
    this.metas.delete(uid);
    this.told.delete(uid);
    if (!wasAnnounced) return;
    this.announced--;
    if (opts.qresync) expunged.push(uid);
    else out.push(untagged(num(seq), atom('EXPUNGE')));
  }
}

function sameFlags(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => set.has(f.toLowerCase()));
}
