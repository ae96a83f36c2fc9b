import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, registerAndLogin, startTestProvider, walkFiles } from './helpers.js';
import fs from 'node:fs';

test('accounts: register, login, validation, no stored password, rate limiting', async () => {
  const p = await startTestProvider({ loginLimits: { perAddress: 3, perIp: 100, windowMs: 60_000 } });
  try {
    const password = 'Tr0ub4dor&3-unique-marker';
    const created = await api(p, 'POST', '/api/accounts', { address: 'Alice@Example.org', password });
    assert.equal(created.status, 201);
    assert.deepEqual(await created.json(), { address: 'alice@example.org' });

    // Duplicate (case-insensitive), foreign domain, bad bodies.
    assert.equal((await api(p, 'POST', '/api/accounts', { address: 'alice@example.org', password })).status, 409);
    assert.equal((await api(p, 'POST', '/api/accounts', { address: 'bob@elsewhere.net', password })).status, 400);
    assert.equal((await api(p, 'POST', '/api/accounts', { address: 'not-an-address', password })).status, 400);
    assert.equal((await api(p, 'POST', '/api/accounts', { address: 'c@example.org', password: 'short' })).status, 400);
    assert.equal((await api(p, 'POST', '/api/accounts', { address: 'c@example.org', password, admin: true })).status, 400);
    assert.equal((await api(p, 'POST', '/api/accounts', ['c@example.org', password])).status, 400);
    const malformed = await fetch(new URL('/api/accounts', p.httpUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"address":' });
    assert.equal(malformed.status, 400);
    const err = (await malformed.json()) as { error: string };
    assert.equal(err.error, 'bad_request');

    // Login returns a token and the gateway URL of the user's own database.
    const login = await api(p, 'POST', '/api/sessions', { address: 'alice@example.org', password });
    assert.equal(login.status, 200);
    const session = (await login.json()) as { token: string; couchUrl: string; expiresAt: string };
    assert.match(session.token, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(session.couchUrl.startsWith(p.httpUrl + 'user-'));
    assert.ok(!session.couchUrl.includes('alice'), 'db name must not reveal the address');
    assert.ok(Date.parse(session.expiresAt) > Date.now());

    // Wrong password → 401; after 3 failures → 429 with Retry-After, even with the right password.
    for (let i = 0; i < 3; i++) assert.equal((await api(p, 'POST', '/api/sessions', { address: 'alice@example.org', password: 'wrong' })).status, 401);
    const limited = await api(p, 'POST', '/api/sessions', { address: 'alice@example.org', password });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    // Another address is not affected by alice's failures.
    await api(p, 'POST', '/api/accounts', { address: 'bob@example.org', password });
    assert.equal((await api(p, 'POST', '/api/sessions', { address: 'bob@example.org', password })).status, 200);
    // Unknown address: 401 like a wrong password.
    assert.equal((await api(p, 'POST', '/api/sessions', { address: 'nobody@example.org', password })).status, 401);

    // Neither the password nor the token is stored anywhere in the data dir.
    for (const file of walkFiles(p.dataDir)) {
      const bytes = fs.readFileSync(file);
      assert.ok(!bytes.includes(password), `password found in ${file}`);
      assert.ok(!bytes.includes(session.token), `token found in ${file}`);
    }
  } finally {
    await p.dispose();
  }
});

test('accounts: per-IP limit across addresses', async () => {
  const p = await startTestProvider({ loginLimits: { perAddress: 100, perIp: 4, windowMs: 60_000 } });
  try {
    for (let i = 0; i < 4; i++) assert.equal((await api(p, 'POST', '/api/sessions', { address: `u${i}@example.org`, password: 'whatever' })).status, 401);
    const r = await api(p, 'POST', '/api/sessions', { address: 'u9@example.org', password: 'whatever' });
    assert.equal(r.status, 429);
    assert.match(((await r.json()) as { reason: string }).reason, /too many failed logins/);
  } finally {
    await p.dispose();
  }
});

test('accounts: a token opens the own database until logout revokes it', async () => {
  const p = await startTestProvider();
  try {
    const s = await registerAndLogin(p, 'carol@example.org');
    const info = await fetch(s.couchUrl, { headers: { authorization: `Bearer ${s.token}` } });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as { doc_count: number }).doc_count, 0);
    assert.equal((await api(p, 'DELETE', '/api/sessions', undefined, 'x'.repeat(43))).status, 401);
    assert.equal((await api(p, 'DELETE', '/api/sessions', undefined, s.token)).status, 204);
    assert.equal((await fetch(s.couchUrl, { headers: { authorization: `Bearer ${s.token}` } })).status, 401);
    assert.equal((await api(p, 'DELETE', '/api/sessions', undefined, s.token)).status, 401);
  } finally {
    await p.dispose();
  }
});

test('accounts: tokens expire', async () => {
  const p = await startTestProvider({ tokenTtlMs: 400 });
  try {
    const s = await registerAndLogin(p, 'dave@example.org');
    assert.equal((await fetch(s.couchUrl, { headers: { authorization: `Bearer ${s.token}` } })).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await fetch(s.couchUrl, { headers: { authorization: `Bearer ${s.token}` } })).status, 401);
  } finally {
    await p.dispose();
  }
});

test('service discovery: GET /api/config names the domains and the live SMTP ports', async () => {
  const p = await startTestProvider();
  try {
    const res = await api(p, 'GET', '/api/config');
    assert.equal(res.status, 200);
    const config = (await res.json()) as { domains: string[]; hostname: string; submission: { host: string; port: number; starttls: boolean }; mx: { port: number }; caFingerprint: string | null };
    assert.deepEqual(config.domains, ['example.org']);
    assert.equal(config.hostname, 'mx.example.org');
    assert.deepEqual(config.submission, { host: '127.0.0.1', port: p.submissionPort, starttls: false });
    assert.equal(config.mx.port, p.mxPort);
    assert.equal(config.caFingerprint, null);
  } finally {
    await p.dispose();
  }
});
