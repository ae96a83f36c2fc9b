// Wrong local passwords are rate-limited across connections: the Nth wrong
// attempt waits longer than the first, parallel guessing connections are
// spaced out, the password is not even checked before the attempt's slot
// (so dropping a slow connection gains nothing), and the right password
// still works afterwards. IMAP and SMTP share one budget in the daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, RawConnection, USER, PASSWORD } from '../imap/harness.js';
import { AuthThrottle } from '../../src/util/auth-throttle.js';
import { RawSmtp, SMTP_PASSWORD, SMTP_USER, startSmtpEnv } from './smtp-env.js';

const BASE = 100;

async function timedImapLogin(port: number, password: string): Promise<{ ms: number; reply: string }> {
  const c = await RawConnection.open(port);
  try {
    const t0 = performance.now();
    const reply = await c.command('a', `LOGIN "${USER}" "${password}"`);
    return { ms: performance.now() - t0, reply };
  } finally {
    c.close();
  }
}

test('IMAP: each further wrong password from a fresh connection waits longer; the right one still works', { timeout: 60_000 }, async (t) => {
  const h = await startHarness({ failedLoginDelayMs: BASE, authThrottle: new AuthThrottle({ baseDelayMs: BASE, maxDelayMs: 5000 }) });
  try {
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 6; i++) {
      const r = await timedImapLogin(h.server.port, `wrong-${i}`);
      assert.match(r.reply, /^a NO \[AUTHENTICATIONFAILED\]/m);
      times.push(r.ms);
    }
    const total = performance.now() - t0;
    const seen = times.map(Math.round).join(', ');
    // Checks k and k+1 are >= BASE * 2^(k-1) apart, however fast the client comes back:
    // 6 attempts take >= (1+2+4+8+16) * BASE, where a fixed delay alone would give 6 * BASE.
    t.diagnostic(`base ${BASE} ms; 6 wrong IMAP logins, each from a fresh connection: ${seen} ms, ${Math.round(total)} ms in all`);
    assert.ok(total >= 31 * BASE, `6 wrong attempts took ${Math.round(total)} ms in all (${seen})`);
    assert.ok(times[0]! >= BASE - 5 && times[0]! < 8 * BASE, `first failure answered after the fixed delay (${seen})`);
    assert.ok(times[5]! >= 10 * BASE, `the 6th wrong attempt waited for its slot (${seen})`);
    // The right password: checked in its own slot too (so a guesser learns nothing by hanging up early), then accepted.
    const right = await timedImapLogin(h.server.port, PASSWORD);
    assert.match(right.reply, /^a OK/m);
    assert.ok(right.ms >= 8 * BASE, `the right password also waited for its slot (${Math.round(right.ms)} ms)`);
  } finally {
    await h.close();
  }
});

test('IMAP: parallel guessing connections are spaced out, not answered together', { timeout: 60_000 }, async (t) => {
  const h = await startHarness({ failedLoginDelayMs: BASE, authThrottle: new AuthThrottle({ baseDelayMs: BASE, maxDelayMs: 5000 }) });
  try {
    assert.match((await timedImapLogin(h.server.port, 'first-wrong')).reply, /NO/);
    const conns = await Promise.all(Array.from({ length: 8 }, () => RawConnection.open(h.server.port)));
    const t0 = performance.now();
    const done = await Promise.all(
      conns.map(async (c, i) => {
        const reply = await c.command('p', `LOGIN "${USER}" "guess-${i}"`);
        c.close();
        assert.match(reply, /^p NO \[AUTHENTICATIONFAILED\]/m);
        return performance.now() - t0;
      }),
    );
    done.sort((a, b) => a - b);
    t.diagnostic(`8 parallel wrong logins answered after ${done.map(Math.round).join(', ')} ms`);
    // 8 attempts in slots at least BASE apart: the last answer comes >= 7 * BASE after the start.
    assert.ok(done[7]! >= 7 * BASE, `8 parallel guesses all answered within ${Math.round(done[7]!)} ms (${done.map(Math.round).join(', ')})`);
  } finally {
    await h.close();
  }
});

test('SMTP gateway: wrong AUTH is 535 after a delay, later ones wait longer; right password still accepted', { timeout: 60_000 }, async (t) => {
  const env = await startSmtpEnv({ failedAuthDelayMs: BASE, authThrottle: new AuthThrottle({ baseDelayMs: BASE, maxDelayMs: 5000 }) });
  try {
    const times: number[] = [];
    const start = performance.now();
    for (let i = 0; i < 5; i++) {
      const c = await RawSmtp.open(env.gateway.port);
      await c.command('EHLO fuzz');
      const t0 = performance.now();
      const reply = await c.authPlain(SMTP_USER, `wrong-${i}`);
      times.push(performance.now() - t0);
      c.close();
      assert.match(reply, /^535 5\.7\.8 /m);
    }
    const total = performance.now() - start;
    const seen = times.map(Math.round).join(', ');
    t.diagnostic(`5 wrong SMTP AUTHs, each from a fresh connection: ${seen} ms, ${Math.round(total)} ms in all`);
    assert.ok(total >= 15 * BASE, `5 wrong AUTHs took ${Math.round(total)} ms in all (${seen})`);
    assert.ok(times[0]! >= BASE - 5 && times[0]! < 8 * BASE, `first 535 after the fixed delay (${seen})`);
    assert.ok(times[4]! >= 5 * BASE, `the 5th wrong AUTH waited for its slot (${seen})`);
    const c = await RawSmtp.open(env.gateway.port);
    await c.command('EHLO fuzz');
    assert.match(await c.authPlain(SMTP_USER, SMTP_PASSWORD), /^235 /m);
    c.close();
  } finally {
    await env.close();
  }
});

test('one throttle shared by IMAP and SMTP (as in the daemon): SMTP guesses slow IMAP logins', { timeout: 60_000 }, async () => {
  const shared = new AuthThrottle({ baseDelayMs: BASE, maxDelayMs: 5000 });
  const env = await startSmtpEnv({ failedAuthDelayMs: BASE, authThrottle: shared });
  const h = await startHarness({ failedLoginDelayMs: BASE, authThrottle: shared });
  try {
    const quick = await timedImapLogin(h.server.port, PASSWORD);
    assert.match(quick.reply, /^a OK/m);
    for (let i = 0; i < 4; i++) {
      const c = await RawSmtp.open(env.gateway.port);
      await c.command('EHLO fuzz');
      assert.match(await c.authPlain(SMTP_USER, `wrong-${i}`), /^535 /m);
      c.close();
    }
    const slowed = await timedImapLogin(h.server.port, PASSWORD);
    assert.match(slowed.reply, /^a OK/m);
    assert.ok(slowed.ms >= 4 * BASE, `IMAP login after 4 SMTP failures took ${Math.round(slowed.ms)} ms (before: ${Math.round(quick.ms)} ms)`);
  } finally {
    await h.close();
    await env.close();
  }
});
