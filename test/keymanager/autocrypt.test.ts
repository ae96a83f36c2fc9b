// Autocrypt Level 1: header parsing, peer state, recommendation, gossip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDocumentStore } from '../../src/soledad/memory-docstore.js';
import { KeyManager, parseAutocryptHeader } from '../../src/keymanager/index.js';
import { generateKeyPair, readAnyKey } from '../../src/keymanager/keys.js';

const DAY = 24 * 3600 * 1000;
const keydataOf = async (armored: string) => Buffer.from((await readAnyKey(armored)).write()).toString('base64');

function mail(from: string, date: Date, headers: string[], to = 'alice@example.org'): Buffer {
  return Buffer.from(`From: ${from}\r\nTo: ${to}\r\nDate: ${date.toUTCString()}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\nhello\r\n`);
}

describe('Autocrypt', () => {
  it('parses headers and rejects unknown critical attributes', () => {
    const ok = parseAutocryptHeader('addr=Bob@Example.net; prefer-encrypt=mutual; _extra=1; keydata=AAEC AwQ=');
    assert.equal(ok?.addr, 'bob@example.net');
    assert.equal(ok?.preferEncrypt, 'mutual');
    assert.deepEqual([...ok!.keydata], [0, 1, 2, 3, 4]);
    assert.equal(parseAutocryptHeader('addr=b@x; critical=1; keydata=AAEC'), null);
    assert.equal(parseAutocryptHeader('addr=b@x'), null);
    assert.equal(parseAutocryptHeader('addr=b@x; prefer-encrypt=whatever; keydata=AAEC')?.preferEncrypt, 'nopreference');
  });

  it('our header round-trips: another sealmail learns our key from it', async () => {
    const alice = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false });
    const own = await alice.ensureOwnKey();
    const field = await alice.autocryptHeader();
    assert.ok(field.split('\r\n').every((l) => l.length <= 78), 'folded');
    const bob = new KeyManager({ store: new MemoryDocumentStore(), address: 'bob@example.net', wkd: false });
    await bob.ensureOwnKey();
    await bob.processIncoming(Buffer.from(`From: alice@example.org\r\nDate: ${new Date().toUTCString()}\r\n${field}\r\nhi\r\n`), { encrypted: false });
    const r = await bob.lookup('alice@example.org');
    assert.ok(r.found && r.key.fingerprint === own.fingerprint && r.key.level === 'autocrypt');
    assert.equal(await bob.recommendation('alice@example.org'), 'encrypt');
  });

  it('follows peer state: newer headers win, older mail is ignored, silence discourages', async () => {
    let now = new Date('2026-03-01T00:00:00Z');
    const km = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false, now: () => now });
    await km.ensureOwnKey();
    const k1 = await generateKeyPair({ address: 'bob@example.net', lifetimeSeconds: 0, date: new Date('2026-01-01T00:00:00Z') });
    const k2 = await generateKeyPair({ address: 'bob@example.net', lifetimeSeconds: 0, date: new Date('2026-01-01T00:00:00Z') });
    const header = async (k: typeof k1, pe = 'mutual') => `Autocrypt: addr=bob@example.net; prefer-encrypt=${pe}; keydata=${await keydataOf(k.publicArmored)}`;

    assert.equal(await km.recommendation('bob@example.net'), 'disable');
    await km.processIncoming(mail('Bob <bob@example.net>', new Date('2026-02-01T00:00:00Z'), [await header(k1)]), { encrypted: false });
    await km.processIncoming(mail('bob@example.net', new Date('2026-02-10T00:00:00Z'), [await header(k2, 'nopreference')]), { encrypted: false });
    let r = await km.lookup('bob@example.net');
    assert.ok(r.found && r.key.fingerprint === k2.fingerprint, 'the newer header wins');
    assert.equal(await km.recommendation('bob@example.net'), 'available');
    // An older message arriving late changes nothing.
    await km.processIncoming(mail('bob@example.net', new Date('2026-01-01T00:00:00Z'), [await header(k1)]), { encrypted: false });
    r = await km.lookup('bob@example.net');
    assert.ok(r.found && r.key.fingerprint === k2.fingerprint);
    // Two headers, or one for another address, count as none.
    await km.processIncoming(mail('bob@example.net', new Date('2026-02-11T00:00:00Z'), [await header(k1), await header(k1)]), { encrypted: false });
    r = await km.lookup('bob@example.net');
    assert.ok(r.found && r.key.fingerprint === k2.fingerprint);
    // Mail without Autocrypt for more than 35 days: discourage.
    now = new Date('2026-04-01T00:00:00Z');
    await km.processIncoming(mail('bob@example.net', new Date(Date.parse('2026-02-10T00:00:00Z') + 40 * DAY), []), { encrypted: false });
    assert.equal(await km.recommendation('bob@example.net'), 'discourage');
  });

  it('gossip: written for several recipients, trusted only inside encrypted mail, weakest level', async () => {
    const alice = new KeyManager({ store: new MemoryDocumentStore(), address: 'alice@example.org', wkd: false });
    await alice.ensureOwnKey();
    const carol = await generateKeyPair({ address: 'carol@example.com', lifetimeSeconds: 0 });
    await alice.importKeys(carol.publicArmored);
    const [gossip] = await alice.gossipHeaders(['carol@example.com', 'nokey@example.com']);
    assert.match(gossip, /^Autocrypt-Gossip: addr=carol@example\.com; keydata=/);

    const dave = new KeyManager({ store: new MemoryDocumentStore(), address: 'dave@example.net', wkd: false });
    await dave.ensureOwnKey();
    const m = mail('alice@example.org', new Date(), [gossip.trimEnd()], 'dave@example.net, carol@example.com');
    await dave.processIncoming(m, { encrypted: false });
    assert.equal((await dave.lookup('carol@example.com')).found, false, 'not from cleartext mail');
    await dave.processIncoming(m, { encrypted: true });
    const r = await dave.lookup('carol@example.com');
    assert.ok(r.found && r.key.level === 'gossip' && r.key.fingerprint === carol.fingerprint);
    assert.equal(await dave.recommendation('carol@example.com'), 'discourage');
  });
  it('writes the peer state when a decision can change, not for every message (§2.3 dates at day resolution)', async () => {
    const now = new Date('2026-03-10T00:00:00Z');
    const store = new MemoryDocumentStore();
    const writes: string[] = [];
    const put = store.put.bind(store);
    store.put = async <T>(type: string, id: string, content: T): Promise<void> => {
      writes.push(id);
      return put(type, id, content);
    };
    const km = new KeyManager({ store, address: 'alice@example.org', wkd: false, now: () => now });
    await km.ensureOwnKey();
    const k1 = await generateKeyPair({ address: 'bob@example.net', lifetimeSeconds: 0, date: new Date('2026-01-01T00:00:00Z') });
    const k2 = await generateKeyPair({ address: 'bob@example.net', lifetimeSeconds: 0, date: new Date('2026-01-01T00:00:00Z') });
    const header = async (k: typeof k1, pe = 'mutual') => `Autocrypt: addr=bob@example.net; prefer-encrypt=${pe}; keydata=${await keydataOf(k.publicArmored)}`;
    const start = Date.parse('2026-03-01T08:00:00Z');
    const bobWrites = (): number => writes.filter((id) => id === 'bob@example.net').length;
    const stateOf = async () => (await store.get<{ autocrypt?: { lastSeen: string; fingerprint?: string; preferEncrypt: string } }>('keyring', 'bob@example.net'))?.autocrypt;

    for (let i = 0; i < 20; i++) await km.processIncoming(mail('bob@example.net', new Date(start + i * 60_000), []), { encrypted: false });
    assert.equal(bobWrites(), 1, '20 plain messages within the hour: one write');
    assert.equal((await stateOf())?.lastSeen, new Date(start).toISOString());

    // A key: written at once (the keyring adds it, the state names it).
    await km.processIncoming(mail('bob@example.net', new Date(start + 30 * 60_000), [await header(k1)]), { encrypted: false });
    assert.equal((await stateOf())?.fingerprint, k1.fingerprint);
    assert.equal(await km.recommendation('bob@example.net'), 'encrypt');
    const afterKey = bobWrites();
    // The same header again and again: nothing to write.
    for (let i = 1; i <= 10; i++) await km.processIncoming(mail('bob@example.net', new Date(start + (30 + i) * 60_000), [await header(k1)]), { encrypted: false });
    assert.equal(bobWrites(), afterKey, 'the same key and preference again: no write');
    // A newer key, or a changed preference, is written at once, within the same hour.
    await km.processIncoming(mail('bob@example.net', new Date(start + 50 * 60_000), [await header(k2)]), { encrypted: false });
    assert.equal((await stateOf())?.fingerprint, k2.fingerprint);
    const r = await km.lookup('bob@example.net');
    assert.ok(r.found && r.key.fingerprint === k2.fingerprint);
    await km.processIncoming(mail('bob@example.net', new Date(start + 51 * 60_000), [await header(k2, 'nopreference')]), { encrypted: false });
    assert.equal((await stateOf())?.preferEncrypt, 'nopreference');
    assert.equal(await km.recommendation('bob@example.net'), 'available');
    // A day on, last_seen is brought forward again.
    const before = bobWrites();
    await km.processIncoming(mail('bob@example.net', new Date(start + DAY + 3600_000), []), { encrypted: false });
    assert.equal(bobWrites(), before + 1);
    assert.equal((await stateOf())?.lastSeen, new Date(start + DAY + 3600_000).toISOString());
  });
});
