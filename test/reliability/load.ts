// The load run (issue 10 "Load"): a real daemon (`sealmail start`, a child
// process, with its embedded provider) serves N concurrent IMAP sessions
// doing mixed operations for a while (load-session.ts) as mail arrives
// through the provider's MX and the fetch loop. Then, with everything
// quiet: every delivered message is in INBOX exactly once; each session,
// after a NOOP, sees what a fresh session sees (UIDs in order, flags per UID,
// message count); the test's own messages are where its commands put them
// (ledger); and, the daemon stopped, the store on disk holds those same views.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, readCliConfig, startCli } from '../support/cli.js';
import { connect, fetchItems, quote, type RawImapClient } from '../support/raw-imap.js';
import { mulberry32 } from '../support/prng.js';
import { accountDir } from '../../src/daemon/account.js';
import { Soledad } from '../../src/soledad/index.js';
import { openMailStore } from '../../src/mail/store/index.js';
import { makeMessage, sendToMx, waitFor } from './harness.js';
import { LoadSession, type LoadContext } from './load-session.js';
import { MessageLedger, sameFlags, type ProtocolError } from './load-view.js';

export interface LoadOptions {
  sessions: number;
  durationMs: number;
  /** Pause between messages sent to the MX. */
  mxGapMs: number;
  seed: number;
  /** Writes a transcript of every session (commands, first line of each response) to this file. */
  traceFile?: string;
  log?: (line: string) => void;
}

export interface LoadReport {
  commands: number;
  opsPerSecond: number;
  byCommand: Record<string, number>;
  /** Protocol errors (tagged NO/BAD, responses that do not fit the session's view). */
  errors: ProtocolError[];
  /** Differences between views, ledger, fresh sessions and the store at the end. */
  inconsistencies: string[];
  delivered: number;
  /** Messages the test created that are live at the end. */
  ledgerSize: number;
  /** Error-level lines in the daemon's log. */
  daemonErrors: string[];
}

const MAILBOXES = ['INBOX', 'Work', 'Archive'];

interface FreshMessage {
  uid: number;
  flags: string[];
  messageId: string;
}

/** What a fresh session sees in a mailbox: UIDs ascending, flags, Message-ID. */
async function freshView(c: RawImapClient, mailbox: string): Promise<FreshMessage[]> {
  const sel = await c.command(`EXAMINE ${quote(mailbox)}`);
  if (!sel.tagged.startsWith('OK')) throw new Error(`EXAMINE ${mailbox}: ${sel.tagged}`);
  const exists = Number(/\* (\d+) EXISTS/.exec(sel.untagged.map((b) => b.toString('latin1')).join('\n'))?.[1] ?? -1);
  if (exists === 0) return [];
  const r = await c.command('FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
  if (!r.tagged.startsWith('OK')) throw new Error(`FETCH in ${mailbox}: ${r.tagged}`);
  const out: FreshMessage[] = [];
  for (const resp of r.untagged) {
    if (!/^\* \d+ FETCH/.test(resp.toString('latin1', 0, 40))) continue;
    const items = fetchItems(resp);
    const header = items.get('BODY[HEADER.FIELDS (MESSAGE-ID)]')?.value;
    const messageId = /<([^>]+)>/.exec(Buffer.isBuffer(header) ? header.toString('latin1') : '')?.[1] ?? '';
    out.push({ uid: Number(items.get('UID')?.value), flags: ((items.get('FLAGS')?.value ?? []) as string[]).map(String), messageId });
  }
  if (out.length !== exists) throw new Error(`${mailbox}: EXISTS ${exists} but ${out.length} FETCH responses`);
  return out;
}

function compareViews(what: string, expected: FreshMessage[], uids: number[], flags: (uid: number) => string[] | undefined): string[] {
  const problems: string[] = [];
  const want = expected.map((m) => m.uid);
  if (uids.length !== want.length || uids.some((u, i) => u !== want[i])) {
    const missing = want.filter((u) => !uids.includes(u));
    const extra = uids.filter((u) => !want.includes(u));
    problems.push(`${what}: ${uids.length} messages, a fresh session sees ${want.length} (missing ${missing.slice(0, 5).join(',') || '-'}, extra ${extra.slice(0, 5).join(',') || '-'})`);
    return problems;
  }
  for (const m of expected) {
    if (!sameFlags(flags(m.uid), m.flags)) problems.push(`${what} UID ${m.uid}: flags (${flags(m.uid)?.join(' ')}) but a fresh session sees (${m.flags.join(' ')})`);
  }
  return problems;
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const log = opts.log ?? (() => undefined);
  const { home, env, ports } = await cliEnv();
  const daemon = await startCli(env);
  const sessions: LoadSession[] = [];
  try {
    const account = readCliConfig(env).accounts[0]!;
    const ctx: LoadContext = { ledger: new MessageLedger(), mailboxes: MAILBOXES, errors: [], counts: new Map(), runId: randomBytes(4).toString('hex'), ...(opts.traceFile ? { trace: [] } : {}) };
    const admin = await connect('127.0.0.1', ports.imap);
    await admin.login(account.address, account.localPassword);
    for (const m of MAILBOXES.slice(1)) await admin.command(`CREATE ${quote(m)}`);

    const rootRand = mulberry32(opts.seed);
    for (let i = 0; i < opts.sessions; i++) {
      sessions.push(await LoadSession.open(i, ports.imap, account.address, account.localPassword, ctx, mulberry32(Math.floor(rootRand() * 2 ** 32))));
    }
    // Something to work on from the start: each session appends two messages.
    await Promise.all(sessions.map(async (s) => {
      await s.select(MAILBOXES[s.index % MAILBOXES.length]!, false);
      for (let i = 0; i < 2; i++) await s.step();
    }));
    log(`${opts.sessions} sessions logged in; running for ${opts.durationMs / 1000} s`);

    const started = Date.now();
    const stopAt = started + opts.durationMs;
    const sent: string[] = [];
    const mx = (async () => {
      while (Date.now() < stopAt) {
        const m = makeMessage(account.address, `load${sent.length}`, { big: sent.length % 10 === 9 });
        await sendToMx(ports.mx, account.address, [m]);
        sent.push(m.id);
        await new Promise((r) => setTimeout(r, opts.mxGapMs));
      }
    })();
    const failures: string[] = [];
    await Promise.all(sessions.map(async (s) => {
      try {
        while (Date.now() < stopAt) await s.step();
      } catch (err) {
        failures.push(`session ${s.index}: ${(err as Error).message}`);
      }
    }));
    const elapsed = Date.now() - started;
    await mx;
    for (const f of failures) ctx.errors.push({ session: -1, command: '-', what: f });
    const commands = [...ctx.counts.values()].reduce((a, b) => a + b, 0);
    log(`${commands} commands in ${(elapsed / 1000).toFixed(1)} s; ${sent.length} messages sent to the MX`);

    // Quiet now: wait for the fetch loop to bring every message in.
    let inbox: FreshMessage[] = [];
    await waitFor('every message sent to the MX in INBOX', async () => {
      inbox = await freshView(admin, 'INBOX');
      const ids = new Set(inbox.map((m) => m.messageId));
      return sent.every((id) => ids.has(id));
    }, 120_000, 500).catch(() => undefined);

    const inconsistencies: string[] = [];
    const fresh = new Map<string, FreshMessage[]>();
    for (const m of MAILBOXES) fresh.set(m, await freshView(admin, m));
    for (const id of sent) {
      const copies = MAILBOXES.flatMap((mb) => fresh.get(mb)!.filter((m) => m.messageId === id).map(() => mb));
      if (copies.length !== 1 || copies[0] !== 'INBOX') inconsistencies.push(`MX message ${id}: ${copies.length} copies (${copies.join(', ')})`);
    }
    // Each session, after a NOOP, against a fresh session's view.
    for (const s of sessions) {
      await s.noop();
      await s.fill();
      const view = s.view;
      if (!view) continue;
      inconsistencies.push(...compareViews(`session ${s.index} (${view.mailbox})`, fresh.get(view.mailbox)!, view.uids, (u) => view.flags.get(u)));
    }
    const ours = [...fresh].flatMap(([mailbox, ms]) => ms.filter((m) => m.messageId.endsWith('@load.test')).map((m) => ({ mailbox, uid: m.uid, messageId: m.messageId })));
    inconsistencies.push(...ctx.ledger.check(ours).map((p) => `ledger: ${p}`));
    for (const s of sessions) await s.close();
    sessions.length = 0;
    await admin.close();

    // The store on disk, read with the daemon stopped.
    const code = await daemon.stop('SIGTERM');
    if (code !== 0) inconsistencies.push(`daemon exited with ${code}`);
    const passphrase = readFileSync(account.passphraseFile!, 'utf8').trim();
    const soledad = await Soledad.open({ dataDir: join(accountDir(join(home, '.local/share/sealmail'), account.address), 'store'), passphrase });
    try {
      const mail = await openMailStore({ docs: soledad, local: soledad.local });
      for (const m of MAILBOXES) {
        const stored = (await mail.messages(m)).messages;
        const byUid = new Map(stored.map((x) => [x.uid, x.flags]));
        inconsistencies.push(...compareViews(`store (${m})`, fresh.get(m)!, stored.map((x) => x.uid), (u) => byUid.get(u)));
      }
      await mail.close();
    } finally {
      await soledad.close();
    }
    if (opts.traceFile) writeFileSync(opts.traceFile, ctx.trace!.join('\n') + '\n');
    const daemonErrors = (daemon.stdout() + daemon.stderr()).split('\n').filter((l) => /"level":(50|60)/.test(l)).map((l) => l.slice(0, 300));
    return {
      commands,
      opsPerSecond: commands / (elapsed / 1000),
      byCommand: Object.fromEntries([...ctx.counts].sort((a, b) => b[1] - a[1])),
      errors: ctx.errors,
      inconsistencies,
      delivered: sent.length,
      ledgerSize: ctx.ledger.size,
      daemonErrors,
    };
  } finally {
    for (const s of sessions) await s.close().catch(() => undefined);
    await daemon.stop('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  }
}
