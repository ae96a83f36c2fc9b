// Crash trials: the daemon is SIGKILLed at random moments (while starting up,
// while fetching a backlog, while an IMAP client flags, moves and expunges)
// as mail keeps arriving at the provider's MX. After a final restart every
// message must be there exactly once and byte-exact, nothing expunged may be
// back, moved mail stays moved, and confirmed flags stay set. Shared by the
// quick test (crash.test.ts) and the soak (crash.soak.ts).
import type { RawImapClient } from '../support/raw-imap.js';
import { DAEMON_READY, imapLogin, makeMessage, readAll, sameMessage, sendToMx, untilOutput, waitFor, type World } from './harness.js';

export const KEPT = 'Kept';

/** What the client did to a message, and what the server confirmed (tagged OK). */
interface Fate {
  raw: Buffer;
  flagged: boolean;
  moveSent: boolean;
  moved: boolean;
  expungeSent: boolean;
  expunged: boolean;
}

export interface CrashReport {
  trials: number;
  sent: number;
  killedDuringStartup: number;
  confirmed: { flagged: number; moved: number; expunged: number };
  lost: string[];
  duplicated: string[];
  resurrected: string[];
  corrupt: string[];
  misplaced: string[];
  flagsLost: string[];
  /** For each problem: where its copies are and what the client did to it. */
  details: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Flags, moves and expunges our messages in INBOX until the connection dies or `stop` is set. */
async function mutate(world: World, fates: Map<string, Fate>, stop: { now: boolean }): Promise<void> {
  let c: RawImapClient;
  try {
    c = await imapLogin(world);
  } catch {
    return;
  }
  try {
    await c.command('SELECT INBOX');
    while (!stop.now) {
      const r = await c.command('UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
      const candidates: Array<{ uid: number; fate: Fate }> = [];
      for (const resp of r.untagged) {
        const text = resp.toString('latin1');
        const uid = Number(/UID (\d+)/.exec(text)?.[1]);
        const id = /Message-ID: <([^>]+)>/i.exec(text)?.[1];
        const fate = id ? fates.get(id) : undefined;
        if (fate && !fate.moveSent && !fate.expungeSent) candidates.push({ uid, fate });
      }
      if (candidates.length === 0) {
        await sleep(50);
        continue;
      }
      const { uid, fate } = candidates[Math.floor(Math.random() * candidates.length)]!;
      const dice = Math.random();
      if (dice < 0.4) {
        if ((await c.command(`UID STORE ${uid} +FLAGS.SILENT (\\Flagged)`)).tagged.startsWith('OK')) fate.flagged = true;
      } else if (dice < 0.7) {
        fate.moveSent = true;
        if ((await c.command(`UID MOVE ${uid} ${KEPT}`)).tagged.startsWith('OK')) fate.moved = true;
      } else {
        fate.expungeSent = true;
        await c.command(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
        if ((await c.command(`UID EXPUNGE ${uid}`)).tagged.startsWith('OK')) fate.expunged = true;
      }
      await sleep(Math.random() * 30);
    }
  } catch {
    // the kill dropped the connection
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** One trial: start the daemon, let mail arrive and the client work, SIGKILL it at a random moment. */
async function trial(world: World, fates: Map<string, Fate>, batch: Array<{ id: string; raw: Buffer }>, mode: 'startup' | 'running'): Promise<'startup' | 'running'> {
  const daemon = world.spawnDaemon();
  // Arrivals spread over ~3.5 s, so they overlap start-up, the backlog fetch and the client's work.
  const sending = sendToMx(world.ports.mx, world.account.address, batch, 7000 / Math.max(1, batch.length));
  const stop = { now: false };
  let mutating: Promise<void> = Promise.resolve();
  if (mode === 'startup') {
    await sleep(200 + Math.random() * 2300);
  } else {
    await untilOutput(daemon, DAEMON_READY);
    mutating = mutate(world, fates, stop);
    await sleep(200 + Math.random() * 1800);
  }
  await daemon.stop('SIGKILL');
  stop.now = true;
  await mutating;
  await sending;
  return mode;
}

export async function runCrashTrials(world: World, opts: { trials: number; messages: number; log?: (line: string) => void }): Promise<CrashReport> {
  const fates = new Map<string, Fate>();
  const per = Math.ceil(opts.messages / opts.trials);
  let sent = 0;
  let killedDuringStartup = 0;
  for (let t = 0; t < opts.trials; t++) {
    const batch = Array.from({ length: Math.min(per, opts.messages - sent) }, (_, i) => makeMessage(world.account.address, `t${t}m${i}`));
    for (const m of batch) fates.set(m.id, { raw: m.raw, flagged: false, moveSent: false, moved: false, expungeSent: false, expunged: false });
    sent += batch.length;
    // One trial in four is killed while starting up (the first one, so the quick run has both kinds).
    if ((await trial(world, fates, batch, t % 4 === 0 ? 'startup' : 'running')) === 'startup') killedDuringStartup++;
    opts.log?.(`trial ${t + 1}/${opts.trials}: ${sent} sent`);
  }

  // The final, uninterrupted run: everything the provider holds must arrive.
  const daemon = world.spawnDaemon();
  await untilOutput(daemon, DAEMON_READY);
  const c = await imapLogin(world);
  const mustExist = [...fates].filter(([, f]) => !f.expungeSent).map(([id]) => id);
  let all = new Map<string, unknown[]>();
  await waitFor('every message to arrive after the last restart', async () => {
    all = await readAll(c, ['INBOX', KEPT]);
    return mustExist.every((id) => all.has(id));
  }, 90_000, 500).catch(() => undefined); // what is missing is reported as lost below
  await sleep(1500); // a duplicate delivery would show up by now
  const stored = await readAll(c, ['INBOX', KEPT]);
  await c.close();
  const code = await daemon.stop('SIGTERM');
  if (code !== 0) throw new Error(`the daemon did not stop cleanly after the trials (exit ${code}):\n${daemon.output().slice(-4000)}`);

  const report: CrashReport = {
    trials: opts.trials, sent, killedDuringStartup,
    confirmed: { flagged: 0, moved: 0, expunged: 0 },
    lost: [], duplicated: [], resurrected: [], corrupt: [], misplaced: [], flagsLost: [], details: [],
  };
  for (const [id, fate] of fates) {
    const copies = stored.get(id) ?? [];
    if (fate.flagged) report.confirmed.flagged++;
    if (fate.moved) report.confirmed.moved++;
    if (fate.expunged) report.confirmed.expunged++;
    if (copies.some((cp) => !sameMessage(cp.body, fate.raw))) report.corrupt.push(id);
    if (fate.expunged) {
      if (copies.length > 0) report.resurrected.push(id);
      continue;
    }
    if (copies.length > 1) report.duplicated.push(id);
    if (copies.length === 0 && !fate.expungeSent) report.lost.push(id);
    if (fate.moved && copies.some((cp) => cp.mailbox !== KEPT)) report.misplaced.push(id);
    if (fate.flagged && copies.some((cp) => !cp.flags.includes('\\Flagged'))) report.flagsLost.push(id);
  }
  const problems = new Set([...report.lost, ...report.duplicated, ...report.resurrected, ...report.corrupt, ...report.misplaced, ...report.flagsLost]);
  for (const id of problems) {
    const f = fates.get(id)!;
    const did = (['flagged', 'moveSent', 'moved', 'expungeSent', 'expunged'] as const).filter((k) => f[k]).join(',') || 'untouched';
    const where = (stored.get(id) ?? []).map((cp) => `${cp.mailbox} uid ${cp.uid} (${cp.flags.join(' ')})`).join('; ') || 'nowhere';
    report.details.push(`${id}: client ${did}; copies: ${where}`);
  }
  return report;
}
