import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import nodemailer from 'nodemailer';
import { makeKey, startTestProvider } from './helpers.js';
import { startProvider } from '../../src/provider/index.js';

/** A JSON request over HTTPS trusting only `ca`; also returns the CA fingerprint the server's chain presented. */
function request(url: string, ca: string, method: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; text: string; issuerFingerprint: string }>((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate(true);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), issuerFingerprint: peer.issuerCertificate?.fingerprint256 ?? '' }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('TLS: CA generated at first start and pinned by fingerprint; HTTPS API; STARTTLS on MX and required for submission AUTH', async () => {
  const p = await startTestProvider({ tls: true });
  try {
    assert.ok(p.tls);
    assert.ok(p.httpUrl.startsWith('https://'));
    const { caCert, caFingerprint } = p.tls;
    assert.equal(new crypto.X509Certificate(caCert).fingerprint256, caFingerprint);
    assert.equal(new crypto.X509Certificate(caCert).ca, true);
    assert.equal(fs.statSync(`${p.dataDir}/tls/ca.key`).mode & 0o777, 0o600);

    // Without the pinned CA the certificate is not trusted.
    await assert.rejects(fetch(p.httpUrl + 'api/accounts', { method: 'POST' }));
    const password = 'tls password 1234';
    const reg = await request(p.httpUrl + 'api/accounts', caCert, 'POST', JSON.stringify({ address: 'alice@example.org', password }));
    assert.equal(reg.status, 201);
    assert.equal(reg.issuerFingerprint, caFingerprint, 'the server chain is issued by the pinned CA');
    const config = JSON.parse((await request(p.httpUrl + 'api/config', caCert, 'GET')).text) as { caFingerprint: string; submission: { starttls: boolean } };
    assert.equal(config.caFingerprint, caFingerprint);
    assert.equal(config.submission.starttls, true);
    const login = await request(p.httpUrl + 'api/sessions', caCert, 'POST', JSON.stringify({ address: 'alice@example.org', password }));
    const { token, couchUrl } = JSON.parse(login.text) as { token: string; couchUrl: string };
    assert.ok(couchUrl.startsWith('https://'));
    const key = await makeKey('alice@example.org');
    const put = await request(`${p.httpUrl}keys/alice@example.org`, caCert, 'PUT', key.publicKey, { authorization: `Bearer ${token}`, 'content-type': 'application/pgp-keys' });
    assert.equal(put.status, 200);

    // Submission: AUTH in the clear is refused; after STARTTLS with the pinned CA it works.
    const raw = 'Subject: tls\r\n\r\nover TLS\r\n';
    const clear = nodemailer.createTransport({ host: '127.0.0.1', port: p.submissionPort, secure: false, ignoreTLS: true, auth: { user: 'alice@example.org', pass: password } });
    await assert.rejects(clear.sendMail({ envelope: { from: 'alice@example.org', to: ['alice@example.org'] }, raw }), (e: { responseCode?: number }) => e.responseCode === 538);
    clear.close();
    const secured = nodemailer.createTransport({ host: '127.0.0.1', port: p.submissionPort, secure: false, requireTLS: true, tls: { ca: caCert }, auth: { user: 'alice@example.org', pass: password } });
    await secured.sendMail({ envelope: { from: 'alice@example.org', to: ['alice@example.org'] }, raw });
    secured.close();

    // MX: STARTTLS offered (and used when the sender wants it), plaintext still accepted.
    const mxTls = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, requireTLS: true, tls: { ca: caCert } });
    await mxTls.sendMail({ envelope: { from: 's@outside.net', to: ['alice@example.org'] }, raw });
    mxTls.close();
    const mxPlain = nodemailer.createTransport({ host: '127.0.0.1', port: p.mxPort, secure: false, ignoreTLS: true });
    await mxPlain.sendMail({ envelope: { from: 's@outside.net', to: ['alice@example.org'] }, raw });
    mxPlain.close();
    const info = await request(couchUrl, caCert, 'GET', undefined, { authorization: `Bearer ${token}` });
    assert.equal((JSON.parse(info.text) as { doc_count: number }).doc_count, 3);

    // A restart on the same data dir keeps the CA (clients' pins stay valid).
    await p.close();
    const again = await startProvider({ dataDir: p.dataDir, domains: ['example.org'], scrypt: { N: 1024 }, tls: true });
    try {
      assert.equal(again.tls?.caFingerprint, caFingerprint);
    } finally {
      await again.close();
    }
  } finally {
    await p.dispose();
  }
});
