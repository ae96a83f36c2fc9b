// The lookup chain against local HTTP servers playing the provider's key
// directory, WKD (advanced and direct) and an HKP keyserver; validation
// levels, pinning, downgrade attempts, expiry, publishing and renewal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TempSoledads } from './temp-soledad.js';
import { KeyManager, wkdHash, type KeyManagerOptions } from '../../src/keymanager/index.js';
import { generateKeyPair, openpgp, readAnyKey } from '../../src/keymanager/keys.js';

interface Served {
  provider: Map<string, string>;
  wkdAdvanced: Map<string, Uint8Array>;
  wkdDirect: Map<string, Uint8Array>;
  hkp: Map<string, string>;
  puts: Array<{ address: string; auth: string; body: string }>;
  hits: string[];
}

async function serve(s: Served): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    s.hits.push(`${req.method} ${url.pathname}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let m: RegExpMatchArray | null;
      const send = (body: string | Uint8Array | undefined) => {
        if (body === undefined) return res.writeHead(404).end();
        res.writeHead(200).end(body);
      };
      if ((m = url.pathname.match(/^\/provider\/keys\/(.+)$/))) {
        const address = decodeURIComponent(m[1]);
        if (req.method === 'PUT') {
          s.puts.push({ address, auth: String(req.headers.authorization), body: Buffer.concat(chunks).toString() });
          s.provider.set(address, Buffer.concat(chunks).toString());
          return res.writeHead(204).end();
        }
        return send(s.provider.get(address));
      }
      if ((m = url.pathname.match(/^\/adv\/\.well-known\/openpgpkey\/([^/]+)\/hu\/([a-z0-9]+)$/))) {
        return send(s.wkdAdvanced.get(`${url.searchParams.get('l')}@${m[1]}#${m[2]}`));
      }
      if ((m = url.pathname.match(/^\/direct\/([^/]+)\/\.well-known\/openpgpkey\/hu\/([a-z0-9]+)$/))) {
        return send(s.wkdDirect.get(`${url.searchParams.get('l')}@${m[1]}#${m[2]}`));
      }
      if (url.pathname === '/pks/lookup' && url.searchParams.get('op') === 'get') return send(s.hkp.get(url.searchParams.get('search') ?? ''));
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const YEAR = 365 * 24 * 3600;
const pub = async (address: string, opts: { lifetimeSeconds?: number; date?: Date } = {}) =>
  generateKeyPair({ address, lifetimeSeconds: opts.lifetimeSeconds ?? YEAR, date: opts.date });
const binary = async (armored: string) => (await readAnyKey(armored)).write();

describe('key lookup chain', () => {
  const served: Served = { provider: new Map(), wkdAdvanced: new Map(), wkdDirect: new Map(), hkp: new Map(), puts: [], hits: [] };
  let srv: { url: string; close(): Promise<void> };
  let options: (o?: Partial<KeyManagerOptions>) => Promise<KeyManagerOptions>;
  const stores = new TempSoledads();

  before(async () => {
    srv = await serve(served);
    options = async (o = {}) => ({
      store: await stores.create(),
      address: 'alice@example.org',
      provider: { url: `${srv.url}/provider`, token: 'tok-1', domains: ['example.org'] },
      wkd: { advanced: () => `${srv.url}/adv`, direct: (d) => `${srv.url}/direct/${d}` },
      hkp: { url: srv.url },
      timeoutMs: 2000,
      ...o,
    });
  });
  after(async () => {
    await srv.close();
    await stores.closeAll();
  });

  it('computes the WKD hash of the draft\'s example', () => {
    // draft-koch-openpgp-webkey-service §3.1: "Joe.Doe" → iy9q119eutrkn8s1mk4r39qejnbu3n5q
    assert.equal(wkdHash('Joe.Doe'), 'iy9q119eutrkn8s1mk4r39qejnbu3n5q');
  });

  it('asks provider directory, WKD advanced, WKD direct, HKP in order and records the level', async () => {
    const km = new KeyManager(await options());
    const bob = await pub('bob@example.org');
    served.provider.set('bob@example.org', bob.publicArmored);
    const w1 = await pub('w1@example.net');
    served.wkdAdvanced.set(`w1@example.net#${wkdHash('w1')}`, await binary(w1.publicArmored));
    const w2 = await pub('W2@example.net');
    served.wkdDirect.set(`w2@example.net#${wkdHash('W2')}`, await binary(w2.publicArmored));
    const h = await pub('h@example.com');
    served.hkp.set('h@example.com', h.publicArmored);

    const r1 = await km.lookup('bob@example.org');
    assert.ok(r1.found);
    assert.equal(r1.key.fingerprint, bob.fingerprint);
    assert.equal(r1.key.level, 'provider');
    const r2 = await km.lookup('w1@example.net');
    assert.ok(r2.found && r2.key.level === 'wkd' && r2.key.fingerprint === w1.fingerprint);
    const r3 = await km.lookup('W2@example.net');
    assert.ok(r3.found && r3.key.level === 'wkd' && r3.key.fingerprint === w2.fingerprint);
    assert.ok(served.hits.some((x) => x.includes('/adv/.well-known/openpgpkey/example.net/hu/')), 'advanced tried first');
    const r4 = await km.lookup('h@example.com');
    assert.ok(r4.found && r4.key.level === 'keyserver' && r4.key.source === 'hkp');
    const none = await km.lookup('nobody@example.com');
    assert.equal(none.found, false);
    const asked = served.hits.length;
    assert.equal((await km.lookup('nobody@example.com')).found, false);
    assert.equal(served.hits.length, asked, 'a recent miss is not asked again');
    // Found keys are in the local keyring now: no network on the second lookup.
    const hitsBefore = served.hits.length;
    assert.ok((await km.lookup('w1@example.net')).found);
    assert.equal(served.hits.length, hitsBefore);
  });

  it('refuses downgrades: weaker sources and foreign keys never displace a stronger key', async () => {
    const km = new KeyManager(await options());
    const good = await pub('carol@example.org');
    served.provider.set('carol@example.org', good.publicArmored);
    assert.equal((await km.lookup('carol@example.org')).found, true);

    // An attacker controls the keyserver and WKD, and sends mail with an Autocrypt header.
    const evil = await pub('carol@example.org');
    served.hkp.set('carol@example.org', evil.publicArmored);
    served.wkdDirect.set(`carol@example.org#${wkdHash('carol')}`, await binary(evil.publicArmored));
    served.provider.delete('carol@example.org');
    const keydata = Buffer.from(await binary(evil.publicArmored)).toString('base64');
    await km.processIncoming(Buffer.from(`From: carol@example.org\r\nDate: ${new Date().toUTCString()}\r\nAutocrypt: addr=carol@example.org; prefer-encrypt=mutual; keydata=${keydata}\r\n\r\nhi\r\n`), { encrypted: false });
    const r = await km.lookup('carol@example.org', { refresh: true });
    assert.ok(r.found);
    assert.equal(r.key.fingerprint, good.fingerprint, 'still the provider key');
    const doc = await km.keyring.load('carol@example.org');
    assert.ok(doc.keys.some((k) => k.fingerprint === evil.fingerprint), 'the weaker key is recorded, not used');

    // A key whose user IDs do not carry the address is not accepted at all.
    const other = await pub('mallory@example.org');
    served.wkdAdvanced.set(`dan@example.net#${wkdHash('dan')}`, await binary(other.publicArmored));
    assert.equal((await km.lookup('dan@example.net')).found, false);
  });

  it('a pinned key is only replaced explicitly; expired and revoked keys are never used', async () => {
    const km = new KeyManager(await options());
    const a = await pub('erin@example.net');
    served.wkdAdvanced.set(`erin@example.net#${wkdHash('erin')}`, await binary(a.publicArmored));
    assert.ok((await km.lookup('erin@example.net')).found);
    await km.pin('erin@example.net', a.fingerprint);
    const b = await pub('erin@example.net');
    await km.importKeys(b.publicArmored, { level: 'provider', source: 'provider' });
    const r1 = await km.lookup('erin@example.net', { refresh: true });
    assert.ok(r1.found && r1.key.fingerprint === a.fingerprint && r1.key.level === 'verified');
    await km.pin('erin@example.net', b.fingerprint);
    const r2 = await km.lookup('erin@example.net');
    assert.ok(r2.found && r2.key.fingerprint === b.fingerprint);

    const old = await pub('frank@example.net', { lifetimeSeconds: 24 * 3600, date: new Date(Date.now() - 3 * 24 * 3600 * 1000) });
    await km.importKeys(old.publicArmored, { level: 'provider', source: 'provider' });
    const expired = await km.lookup('frank@example.net');
    assert.equal(expired.found, false);
    assert.match(!expired.found ? expired.reason : '', /expired/);

    const g = await pub('gina@example.net');
    const key = await openpgp.readPrivateKey({ armoredKey: g.privateArmored });
    const { publicKey: revoked } = await openpgp.revokeKey({ key, format: 'armored' });
    await km.importKeys(g.publicArmored, { level: 'provider', source: 'provider' });
    assert.ok((await km.lookup('gina@example.net')).found);
    await km.importKeys(revoked, { source: 'hkp' }); // a revocation counts from any source
    assert.equal((await km.lookup('gina@example.net')).found, false);
  });

  it('asks the directory again after a week, so a revocation published there is seen', async () => {
    const h = await pub('hank@example.org');
    let now = new Date(); // after the key's creation: a key is not valid before it exists
    const km = new KeyManager(await options({ now: () => now }));
    served.provider.set('hank@example.org', h.publicArmored);
    assert.ok((await km.lookup('hank@example.org')).found);
    const key = await openpgp.readPrivateKey({ armoredKey: h.privateArmored });
    served.provider.set('hank@example.org', (await openpgp.revokeKey({ key, format: 'armored' })).publicKey);
    const hits = served.hits.length;
    now = new Date(now.getTime() + 2 * 24 * 3600 * 1000);
    assert.ok((await km.lookup('hank@example.org')).found, 'fresh enough: no network');
    assert.equal(served.hits.length, hits);
    now = new Date(now.getTime() + 6 * 24 * 3600 * 1000);
    const r = await km.lookup('hank@example.org');
    assert.equal(r.found, false, 'the revocation was fetched');
  });

  it('publishes our key with the bearer token and renews it before expiry, keeping the fingerprint', async () => {
    let now = new Date('2026-01-01T00:00:00Z');
    const km = new KeyManager(await options({ address: 'pub@example.org', keyLifetimeDays: 100, renewBeforeDays: 10, now: () => now }));
    const own = await km.ensureOwnKey();
    const put = served.puts.find((p) => p.address === 'pub@example.org');
    assert.equal(put?.auth, 'Bearer tok-1');
    assert.match(put?.body ?? '', /BEGIN PGP PUBLIC KEY BLOCK/);
    assert.equal((await km.ensureOwnKey()).expiresAt, own.expiresAt, 'no renewal while far from expiry');
    assert.equal(served.puts.filter((p) => p.address === 'pub@example.org').length, 1, 'not republished unchanged');

    now = new Date('2026-04-05T00:00:00Z'); // 5 days before expiry
    const renewed = await km.ensureOwnKey();
    assert.equal(renewed.fingerprint, own.fingerprint);
    assert.ok(Date.parse(renewed.expiresAt!) > Date.parse(own.expiresAt!) + 90 * 24 * 3600 * 1000);
    assert.equal(served.puts.filter((p) => p.address === 'pub@example.org').length, 2, 'republished after renewal');
    const info = await readAnyKey(served.provider.get('pub@example.org')!);
    assert.equal((await info.getExpirationTime() as Date).toISOString(), renewed.expiresAt);

    // A long-running daemon renews on use, without a restart.
    now = new Date(Date.parse(renewed.expiresAt!) - 5 * 24 * 3600 * 1000);
    await km.autocryptHeader();
    const deadline = Date.now() + 5000;
    while (served.puts.filter((p) => p.address === 'pub@example.org').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const again = await km.ownKey();
    assert.ok(Date.parse(again!.expiresAt!) > Date.parse(renewed.expiresAt!), 'renewed in the background');
    assert.equal(served.puts.filter((p) => p.address === 'pub@example.org').length, 3);
  });
});
