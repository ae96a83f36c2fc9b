// Password change and logout everywhere at a real provider (embedded CouchDB,
// real HTTP): the change needs a session of the account AND the old password,
// is rate limited like a login, ends every other session (their tokens get
// 401 at the sync gateway), and a retry after the change is accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerAndLogin, startTestProvider, type Session } from './helpers.js';

async function gatewayStatus(s: Session): Promise<number> {
  const res = await fetch(s.couchUrl, { headers: { authorization: `Bearer ${s.token}` } });
  await res.body?.cancel();
  return res.status;
}

async function login(p: Parameters<typeof api>[0], address: string, password: string): Promise<{ status: number; session?: Session }> {
  const res = await api(p, 'POST', '/api/sessions', { address, password });
  if (res.status !== 200) {
    await res.body?.cancel();
    return { status: res.status };
  }
  const { token, couchUrl } = (await res.json()) as { token: string; couchUrl: string };
  return { status: 200, session: { address, token, couchUrl } };
}

test('password change: token + old password, other sessions end, old password refused, retry accepted, rate limited', { timeout: 60_000 }, async (t) => {
  const p = await startTestProvider({ loginLimits: { perAddress: 3 } });
  t.after(() => p.dispose());
  const oldPw = 'old password of alice';
  const newPw = 'new password of alice';
  const alice = await registerAndLogin(p, 'alice@example.org', oldPw);
  const aliceLaptop = (await login(p, alice.address, oldPw)).session!;
  const bob = await registerAndLogin(p, 'bob@example.org', 'password of bob');
  const change = { address: alice.address, password: oldPw, newPassword: newPw };

  assert.equal((await api(p, 'POST', '/api/password', change)).status, 401, 'no token');
  assert.equal((await api(p, 'POST', '/api/password', change, bob.token)).status, 401, "another account's token");
  assert.equal((await api(p, 'POST', '/api/password', { ...change, extra: 1 }, alice.token)).status, 400);
  assert.equal((await api(p, 'POST', '/api/password', { ...change, newPassword: 'short' }, alice.token)).status, 400);
  const wrongOld = await api(p, 'POST', '/api/password', { ...change, password: 'not the password' }, alice.token);
  assert.equal(wrongOld.status, 403);
  assert.equal(((await wrongOld.json()) as { error: string }).error, 'wrong_password');
  assert.equal((await login(p, alice.address, oldPw)).status, 200, 'nothing changed');

  const ok = await api(p, 'POST', '/api/password', change, alice.token);
  assert.equal(ok.status, 200);
  // aliceLaptop and the session the check above opened.
  assert.deepEqual(await ok.json(), { revokedSessions: 2 });
  assert.equal(await gatewayStatus(alice), 200, 'the session that made the change stays');
  assert.equal(await gatewayStatus(aliceLaptop), 401, 'every other session of the account ends');
  assert.equal(await gatewayStatus(bob), 200, "other accounts' sessions are untouched");
  assert.equal((await login(p, alice.address, oldPw)).status, 401, 'the old password no longer logs in');
  const fresh = await login(p, alice.address, newPw);
  assert.equal(fresh.status, 200, 'the new one does');

  // A client that crashed after the change retries it: accepted, and other sessions end again.
  const retry = await api(p, 'POST', '/api/password', change, alice.token);
  assert.equal(retry.status, 200);
  assert.deepEqual(await retry.json(), { revokedSessions: 1 });
  assert.equal(await gatewayStatus(fresh.session!), 401);

  // Wrong old passwords count as failed logins: the limiter (3 per address here) stops guessing.
  for (let i = 0; i < 3; i++) assert.equal((await api(p, 'POST', '/api/password', { ...change, password: `guess ${i}`, newPassword: 'x'.repeat(8) }, alice.token)).status, 403);
  const limited = await api(p, 'POST', '/api/password', { ...change, password: newPw, newPassword: 'x'.repeat(8) }, alice.token);
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
  assert.equal((await login(p, alice.address, newPw)).status, 429, 'shared with logins');
});

test('logout everywhere: DELETE /api/sessions/all ends every session of the token account only', { timeout: 60_000 }, async (t) => {
  const p = await startTestProvider();
  t.after(() => p.dispose());
  const carol = await registerAndLogin(p, 'carol@example.org', 'password of carol');
  const carol2 = (await login(p, carol.address, 'password of carol')).session!;
  const dave = await registerAndLogin(p, 'dave@example.org', 'password of dave');

  assert.equal((await api(p, 'DELETE', '/api/sessions/all')).status, 401);
  assert.equal((await api(p, 'DELETE', '/api/sessions/all', undefined, 'A'.repeat(43))).status, 401);
  const res = await api(p, 'DELETE', '/api/sessions/all', undefined, carol2.token);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { revoked: 2 });
  assert.equal(await gatewayStatus(carol), 401);
  assert.equal(await gatewayStatus(carol2), 401, 'the token that asked too');
  assert.equal(await gatewayStatus(dave), 200);
  const keyPut = await fetch(new URL(`/keys/${carol.address}`, p.httpUrl), { method: 'PUT', headers: { authorization: `Bearer ${carol.token}` }, body: 'x' });
  assert.equal(keyPut.status, 401, 'the key directory refuses it too');
  assert.equal((await login(p, carol.address, 'password of carol')).status, 200, 'the password still logs in');
});
