import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import WKD from '@openpgp/wkd-client';
import { makeKey, publishKey, registerAndLogin, startTestProvider } from './helpers.js';
import { zbase32, wkdHash } from '../../src/provider/keys/wkd.js';

test('WKD hash: z-base-32 of SHA-1 of the lowercased local part (draft-koch §3.1 example)', () => {
  // The draft's example: "Joe.Doe" → iy9q119eutrkn8s1mk4r39qejnbu3n5q
  assert.equal(wkdHash('Joe.Doe'), 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
  assert.equal(zbase32(Uint8Array.from([0xf0, 0xbf, 0xc7])), '6n9hq');
});

test('key directory: validated PUT of one own key, GET by address, WKD direct + advanced', async () => {
  const p = await startTestProvider();
  try {
    const s = await registerAndLogin(p, 'Joe.Doe@example.org');
    const key = await makeKey('joe.doe@example.org');

    // Invalid uploads are refused with 400 and a reason.
    const garbage = await publishKey(p, s, 'not a key');
    assert.equal(garbage.status, 400);
    const other = await makeKey('someone@else.net');
    const wrongUid = await publishKey(p, s, other.publicKey);
    assert.equal(wrongUid.status, 400);
    assert.match(((await wrongUid.json()) as { reason: string }).reason, /user ID/);
    assert.equal((await publishKey(p, s, key.privateKey.armor())).status, 400, 'private keys are never accepted');
    const signOnly = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'joe.doe@example.org' }], subkeys: [], format: 'armored' });
    assert.equal((await publishKey(p, s, signOnly.publicKey)).status, 400, 'a key without an encryption subkey is refused');

    const ok = await publishKey(p, s, key.publicKey);
    assert.equal(ok.status, 200);
    const fpr = key.privateKey.getFingerprint();
    assert.equal(((await ok.json()) as { fingerprint: string }).fingerprint, fpr);

    const got = await fetch(new URL('/keys/JOE.DOE@example.org', p.httpUrl));
    assert.equal(got.status, 200);
    assert.match(got.headers.get('content-type') ?? '', /application\/pgp-keys/);
    assert.equal((await openpgp.readKey({ armoredKey: await got.text() })).getFingerprint(), fpr);

    // WKD policy files.
    assert.equal((await fetch(new URL('/.well-known/openpgpkey/policy', p.httpUrl))).status, 200);
    assert.equal((await fetch(new URL('/.well-known/openpgpkey/example.org/policy', p.httpUrl))).status, 200);
    assert.equal((await fetch(new URL('/.well-known/openpgpkey/other.net/policy', p.httpUrl))).status, 404);

    // The WKD client from the OpenPGP.js team, with its https URLs pointed at the provider.
    const requested: string[] = [];
    const Client = WKD as unknown as new () => { _fetch: typeof fetch; lookup(o: { email: string }): Promise<Uint8Array> };
    const client = new Client();
    client._fetch = (url: string | URL | Request) => {
      const u = new URL(String(url));
      requested.push(u.hostname + u.pathname);
      return fetch(new URL(u.pathname + u.search, p.httpUrl));
    };
    const binary = await client.lookup({ email: 'Joe.Doe@example.org' });
    assert.equal((await openpgp.readKey({ binaryKey: binary })).getFingerprint(), fpr);
    assert.deepEqual(requested, ['openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q']);

    // Direct method, and lookups that must miss.
    const direct = await fetch(new URL('/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe', p.httpUrl));
    assert.equal(direct.status, 200);
    assert.equal((await openpgp.readKey({ binaryKey: new Uint8Array(await direct.arrayBuffer()) })).getFingerprint(), fpr);
    assert.equal((await fetch(new URL('/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=mallory', p.httpUrl))).status, 404);
    assert.equal((await fetch(new URL(`/.well-known/openpgpkey/example.org/hu/${wkdHash('nobody')}`, p.httpUrl))).status, 404);
    assert.equal((await fetch(new URL('/.well-known/openpgpkey/other.net/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q', p.httpUrl))).status, 404);

    // Replacing the key: the new one is served.
    const newer = await makeKey('joe.doe@example.org');
    assert.equal((await publishKey(p, s, newer.publicKey)).status, 200);
    const again = await fetch(new URL('/keys/joe.doe@example.org', p.httpUrl));
    assert.equal((await openpgp.readKey({ armoredKey: await again.text() })).getFingerprint(), newer.privateKey.getFingerprint());
  } finally {
    await p.dispose();
  }
});
