// One IMAP session of the load test: a raw client (test/support/raw-imap.ts)
// that picks commands at random (seeded) — SELECT/EXAMINE, FETCH, STORE,
// APPEND, COPY, MOVE, EXPUNGE, SEARCH, IDLE, NOOP, STATUS — keeps its view
// of the selected mailbox from the responses (load-view.ts) and records
// every response that does not fit as a protocol error. Destructive commands
// (MOVE, EXPUNGE) only touch messages the test created (in the ledger), so
// the mail delivered through the MX must survive the whole run exactly once.
import { connect, quote, type RawImapClient } from '../support/raw-imap.js';
import { applyUntagged, MailboxView, type Expect, type MessageLedger, type ProtocolError } from './load-view.js';

export interface LoadContext {
  ledger: MessageLedger;
  mailboxes: string[];
  errors: ProtocolError[];
  /** Completed commands by name. */
  counts: Map<string, number>;
  /** Distinguishes this run's Message-IDs. */
  runId: string;
  /** When given, every command and the first line of every response, timestamped (for diagnosis). */
  trace?: string[];
}

/** Relative weights of the operations a session picks from. */
const OPERATIONS = [
  ['fetch', 22],
  ['store', 14],
  ['search', 10],
  ['append', 10],
  ['reselect', 7],
  ['copy', 7],
  ['move', 7],
  ['expunge', 7],
  ['idle', 5],
  ['noop', 5],
  ['status', 3],
] as const;
type Operation = (typeof OPERATIONS)[number][0];
const TOTAL_WEIGHT = OPERATIONS.reduce((n, [, w]) => n + w, 0);

/** Flags sessions set on any message: never \Deleted (only the expunge operation sets it, on the test's own messages). */
const FLAGS = ['\\Seen', '\\Flagged', '\\Answered', '$Work', '$Todo'];

interface RunResult {
  tagged: string;
  search?: number[];
  searchView?: number[];
  copyUid?: string;
  fetched?: Map<number, Buffer>;
}

export class LoadSession {
  view: MailboxView | null = null;
  private appended = 0;

  private constructor(
    readonly index: number,
    private readonly client: RawImapClient,
    private readonly ctx: LoadContext,
    private readonly rand: () => number,
  ) {}

  static async open(index: number, port: number, user: string, password: string, ctx: LoadContext, rand: () => number): Promise<LoadSession> {
    const client = await connect('127.0.0.1', port);
    await client.login(user, password);
    return new LoadSession(index, client, ctx, rand);
  }

  private error(command: string, what: string): void {
    this.ctx.errors.push({ session: this.index, command, what });
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  /** Sends one command and applies every response to the view; anything but a tagged OK is a protocol error. */
  async run(command: string, expect: Expect[] = [], literals: Buffer[] = [], silentAdd?: { uids: number[]; flags: string[] }): Promise<RunResult> {
    const name = /^(UID \S+|\S+)/i.exec(command)![1]!.toUpperCase();
    this.applyAll(name, this.client.unsolicited.splice(0), new Set());
    const r = await this.client.command(command, literals);
    this.record(command, r.untagged, r.tagged);
    // +FLAGS.SILENT: the client takes its own change as made (RFC 3501 6.4.6); the server announces
    // only what differs from that, in the responses that follow.
    if (silentAdd && r.tagged.startsWith('OK') && !this.view?.readOnly) {
      for (const uid of silentAdd.uids) {
        const old = this.view?.flags.get(uid);
        if (old) this.view!.flags.set(uid, [...new Set([...old, ...silentAdd.flags])]);
      }
    }
    return this.finish(name, command, r, new Set(expect));
  }

  private record(command: string, untagged: Buffer[], tagged: string): void {
    const trace = this.ctx.trace;
    if (!trace) return;
    const at = `${Date.now()} s${this.index} [${this.view?.mailbox ?? '-'}${this.view?.readOnly ? ' ro' : ''}]`;
    trace.push(`${at} > ${command.slice(0, 100)}`);
    for (const u of untagged) trace.push(`${at} < ${u.toString('latin1').split('\r\n', 1)[0]!.slice(0, 160)}`);
    trace.push(`${at} < ${tagged.slice(0, 100)}`);
  }

  private finish(name: string, command: string, r: { tagged: string; untagged: Buffer[] }, expect: ReadonlySet<Expect>): RunResult {
    const out = this.applyAll(name, r.untagged, expect);
    if (!r.tagged.startsWith('OK')) this.error(command.slice(0, 120), `tagged ${r.tagged}`);
    this.ctx.counts.set(name, (this.ctx.counts.get(name) ?? 0) + 1);
    return { tagged: r.tagged, ...out };
  }

  private applyAll(name: string, responses: Buffer[], expect: ReadonlySet<Expect>): Omit<RunResult, 'tagged'> {
    const out: Omit<RunResult, 'tagged'> = {};
    for (const response of responses) {
      const problem = applyUntagged(this.view, response, expect, this.ctx.ledger, out);
      if (problem) this.error(name, problem);
    }
    return out;
  }

  /** Learns the UIDs (and flags) of messages announced by EXISTS, as a client does before using them. */
  async fill(): Promise<void> {
    for (let i = 0; i < 3 && this.view && this.view.firstUnknown() > 0; i++) {
      await this.run(`FETCH ${this.view.firstUnknown()}:* (UID FLAGS)`);
    }
  }

  async select(mailbox: string, readOnly: boolean): Promise<void> {
    this.view = new MailboxView(mailbox, readOnly);
    const r = await this.run(`${readOnly ? 'EXAMINE' : 'SELECT'} ${quote(mailbox)}`, ['SELECT']);
    if (!r.tagged.startsWith('OK')) this.view = null;
    await this.fill();
  }

  /** One randomly chosen operation (then the view is brought up to date). */
  async step(): Promise<void> {
    if (!this.view) {
      await this.select(this.pick(this.ctx.mailboxes), this.rand() < 0.15);
      return;
    }
    let roll = this.rand() * TOTAL_WEIGHT;
    let op: Operation = 'noop';
    for (const [name, weight] of OPERATIONS) {
      if ((roll -= weight) < 0) {
        op = name;
        break;
      }
    }
    await this[op]();
    await this.fill();
  }

  /** A known UID in the view (any message), or undefined. */
  private anyUid(): number | undefined {
    const known = this.view!.known();
    return known.length ? this.pick(known) : undefined;
  }

  /** Up to `max` UIDs of messages the test created and that are still live. */
  private ownUids(max: number): number[] {
    const view = this.view!;
    const own = view.known().filter((u) => this.ctx.ledger.isLive(view.mailbox, u) && !this.ctx.ledger.isMarked(view.mailbox, u));
    const out = new Set<number>();
    const want = 1 + Math.floor(this.rand() * max);
    for (let i = 0; i < want && own.length; i++) out.add(this.pick(own));
    return [...out].sort((a, b) => a - b);
  }

  private otherMailbox(): string {
    return this.pick(this.ctx.mailboxes.filter((m) => m !== this.view!.mailbox));
  }

  private async reselect(): Promise<void> {
    await this.select(this.pick(this.ctx.mailboxes), this.rand() < 0.15);
  }

  private async fetch(): Promise<void> {
    const view = this.view!;
    if (view.uids.length === 0) return this.noop();
    if (this.rand() < 0.5) {
      const a = 1 + Math.floor(this.rand() * view.uids.length);
      const b = Math.min(view.uids.length, a + Math.floor(this.rand() * 10));
      await this.run(`FETCH ${a}:${b} (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)`);
      return;
    }
    const uid = this.anyUid();
    if (uid === undefined) return this.noop();
    const r = await this.run(`UID FETCH ${uid} (UID RFC822.SIZE BODY.PEEK[])`);
    const body = r.fetched?.get(uid);
    const id = this.ctx.ledger.idOf(view.mailbox, uid);
    if (body && id && !body.toString('latin1').includes(`<${id}>`)) this.error('UID FETCH', `${view.mailbox} UID ${uid}: BODY[] is not ${id}`);
  }

  private async store(): Promise<void> {
    const view = this.view!;
    const uid = this.anyUid();
    if (uid === undefined) return this.noop();
    const flags = FLAGS.filter(() => this.rand() < 0.35);
    if (flags.length === 0) flags.push(this.pick(FLAGS));
    const kind = this.pick(['+FLAGS', '-FLAGS', 'FLAGS', '+FLAGS.SILENT']);
    // A flag replace would take \Deleted off a message being expunged; the ledger allows for either.
    const silent = kind === '+FLAGS.SILENT' ? { uids: [uid], flags } : undefined;
    if (this.rand() < 0.5) await this.run(`UID STORE ${uid} ${kind} (${flags.join(' ')})`, [], [], silent);
    else {
      const seq = view.uids.indexOf(uid) + 1;
      if (seq > 0) await this.run(`STORE ${seq} ${kind} (${flags.join(' ')})`, [], [], silent);
    }
  }

  private async search(): Promise<void> {
    const view = this.view!;
    const which = this.pick(['UID SEARCH ALL', 'UID SEARCH FLAGGED', 'SEARCH UNSEEN', 'UID SEARCH SUBJECT "load"', 'SEARCH HEADER Message-ID "load.test"', 'UID SEARCH KEYWORD $Work NOT DELETED']);
    const r = await this.run(which, ['SEARCH']);
    if (!r.search || !r.searchView) return this.error(which, 'no SEARCH response');
    const uids = which.startsWith('UID');
    const inView = new Set(uids ? r.searchView : r.searchView.map((_, i) => i + 1));
    const outside = r.search.filter((n) => !inView.has(n));
    if (r.searchView.includes(0) && uids) return; // a UID not learned yet may be among the results
    if (outside.length) this.error(which, `results not in the view: ${outside.slice(0, 5).join(' ')} (${view.mailbox})`);
    if (which === 'UID SEARCH ALL' && r.search.length !== r.searchView.length) {
      this.error(which, `${r.search.length} results for a view of ${r.searchView.length} messages (${view.mailbox})`);
    }
  }

  private async append(): Promise<void> {
    const mailbox = this.rand() < 0.6 ? this.view!.mailbox : this.pick(this.ctx.mailboxes);
    const id = `load-${this.index}-${++this.appended}.${this.ctx.runId}@load.test`;
    const lines = Array.from({ length: 1 + Math.floor(this.rand() * 40) }, (_, i) => `line ${i} of a message appended by session ${this.index}`);
    const raw = Buffer.from([`From: Session ${this.index} <s${this.index}@load.test>`, `To: alice@sealmail.localhost`, `Subject: load ${this.index}/${this.appended}`, `Message-ID: <${id}>`, `Date: ${new Date().toUTCString()}`, '', ...lines, ''].join('\r\n'), 'latin1');
    const flags = this.rand() < 0.3 ? '(\\Seen) ' : '';
    const r = await this.run(`APPEND ${quote(mailbox)} ${flags}{}`, [], [raw]);
    const code = /\[APPENDUID (\d+) (\d+)\]/i.exec(r.tagged);
    if (r.tagged.startsWith('OK') && !code) return this.error('APPEND', `no APPENDUID: ${r.tagged}`);
    if (code) this.ctx.ledger.added(mailbox, Number(code[2]), id);
  }

  private async copy(): Promise<void> {
    const uids = this.ownUids(3);
    if (!uids.length) return this.append();
    const from = this.view!.mailbox;
    const to = this.otherMailbox();
    const r = await this.run(`UID COPY ${uids.join(',')} ${quote(to)}`);
    const code = /\[COPYUID \d+ ([\d:,]+) ([\d:,]+)\]/i.exec(r.tagged);
    if (code) this.ctx.ledger.copied(from, to, pairs(code[1]!, code[2]!));
  }

  private async move(): Promise<void> {
    if (this.view!.readOnly) return this.fetch();
    const uids = this.ownUids(3);
    if (!uids.length) return this.append();
    const from = this.view!.mailbox;
    const to = this.otherMailbox();
    const r = await this.run(`UID MOVE ${uids.join(',')} ${quote(to)}`, ['COPYUID']);
    const code = r.copyUid && /\[COPYUID \d+ ([\d:,]+) ([\d:,]+)\]/i.exec(r.copyUid);
    if (code) this.ctx.ledger.copied(from, to, pairs(code[1]!, code[2]!));
  }

  private async expunge(): Promise<void> {
    const view = this.view!;
    if (view.readOnly) return this.search();
    const uids = this.ownUids(3);
    if (!uids.length) return this.noop();
    for (const u of uids) this.ctx.ledger.mark(view.mailbox, u);
    await this.run(`UID STORE ${uids.join(',')} +FLAGS.SILENT (\\Deleted)`, [], [], { uids, flags: ['\\Deleted'] });
    if (this.rand() < 0.5) await this.run(`UID EXPUNGE ${uids.join(',')}`);
    else {
      await this.fill();
      await this.run('EXPUNGE');
    }
  }

  private async idle(): Promise<void> {
    this.applyAll('IDLE', this.client.unsolicited.splice(0), new Set());
    const r = await this.client.idle(100 + Math.floor(this.rand() * 700));
    this.record('IDLE', r.untagged, r.tagged);
    this.finish('IDLE', 'IDLE', r, new Set());
  }

  async noop(): Promise<void> {
    await this.run('NOOP');
  }

  private async status(): Promise<void> {
    await this.run(`STATUS ${quote(this.otherMailbox())} (MESSAGES UIDNEXT UNSEEN)`, ['STATUS']);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** COPYUID source and destination sets (RFC 4315 4.3), paired in order. */
function pairs(src: string, dst: string): Array<[number, number]> {
  const expand = (set: string): number[] =>
    set.split(',').flatMap((part) => {
      const [a, b] = part.split(':').map(Number) as [number, number?];
      if (b === undefined) return [a];
      const out: number[] = [];
      for (let i = Math.min(a, b); i <= Math.max(a, b); i++) out.push(i);
      return out;
    });
  const s = expand(src);
  const d = expand(dst);
  return s.map((u, i) => [u, d[i]!]);
}
