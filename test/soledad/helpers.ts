// Shared set-up for the Soledad tests: temp dirs, an embedded CouchDB server
// over real TCP, and scrypt parameters small enough for tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedCouch, type EmbeddedCouch } from '../../src/provider/couchdb/embedded.js';
import type { KdfParams } from '../../src/soledad/secrets.js';
import { Soledad } from '../../src/soledad/index.js';

/** 2^10 * 8 * 128 B = 1 MiB: fast, still the real code path. */
export const TEST_KDF: KdfParams = { N: 2 ** 10, r: 8, p: 1 };

export class Scratch {
  private readonly dirs: string[] = [];
  private readonly closers: Array<() => Promise<unknown>> = [];

  dir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sealmail-'));
    this.dirs.push(d);
    return d;
  }

  /** Registers something to close at cleanup (closed in reverse order). */
  defer<T extends { close(): Promise<unknown> }>(x: T): T {
    this.closers.push(() => x.close());
    return x;
  }

  async couch(dataDir = this.dir(), port?: number): Promise<EmbeddedCouch> {
    return this.defer(await startEmbeddedCouch({ dataDir, ...(port ? { port } : {}) }));
  }

  async cleanup(): Promise<void> {
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}

/** Creates a database on the server and returns its URL. */
export async function createDb(couch: EmbeddedCouch, name: string): Promise<string> {
  const res = await fetch(couch.url + name, { method: 'PUT' });
  if (res.status !== 201) throw new Error(`could not create ${name}: ${res.status}`);
  return couch.url + name;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * A minimal authenticating proxy in front of the embedded server (stands in
 * for the provider gateway): requests without the expected Authorization
 * header get 401; the others are forwarded unchanged.
 */
export async function startAuthProxy(target: string, authorization: string): Promise<{ url: string; seen: { ok: number; denied: number }; close(): Promise<void> }> {
  const http = await import('node:http');
  const seen = { ok: 0, denied: 0 };
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== authorization) {
      seen.denied++;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized', reason: 'missing or wrong credentials' }));
      return;
    }
    seen.ok++;
    const fwd = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Every document (with attachments, base64) of a server database, as one JSON string. */
export async function dumpServerDb(dbUrl: string): Promise<{ text: string; docs: number; attachments: number }> {
  const PouchDB = (await import('pouchdb')).default;
  const db = new PouchDB(dbUrl);
  try {
    const all = await db.allDocs({ include_docs: true, attachments: true, binary: false } as PouchDB.Core.AllDocsWithKeysOptions);
    let attachments = 0;
    const parts: string[] = [];
    for (const row of all.rows) {
      const doc = (row as { doc?: { _attachments?: Record<string, { data: string }> } }).doc;
      if (!doc) continue;
      parts.push(JSON.stringify(doc));
      for (const att of Object.values(doc._attachments ?? {})) {
        attachments++;
        // Decode: a marker inside an attachment would be hidden by base64.
        parts.push(Buffer.from(att.data, 'base64').toString('latin1'));
      }
    }
    return { text: parts.join('\n'), docs: all.rows.length, attachments };
  } finally {
    await db.close();
  }
}

/** Live blob chunk documents (id + attachment only, no sealed body) in a Soledad's main database. */
export async function chunkDocs(sol: Soledad): Promise<number> {
  const db = (sol as unknown as { mainDb: PouchDB.Database }).mainDb;
  const all = await db.allDocs({ include_docs: true });
  return all.rows.filter((r) => {
    const keys = Object.keys(r.doc ?? {}).filter((k) => k !== '_id' && k !== '_rev');
    return keys.length === 1 && keys[0] === '_attachments';
  }).length;
}

/**
 * One account on two devices over the scratch's embedded CouchDB server:
 * device A created and synced once, device B restored from it. Live sync is
 * off: the test syncs by hand (syncOnce), so it decides what each side has seen.
 */
/** One account's database on the embedded CouchDB server and a first device, created and synced (live sync off). */
export async function firstDevice(s: Scratch): Promise<{ url: string; solA: Soledad; restore(): Promise<Soledad> }> {
  const url = await createDb(await s.couch(), 'alice');
  const opts = { passphrase: 'pw', remote: { url }, liveSync: false };
  const solA = s.defer(await Soledad.create({ ...opts, dataDir: s.dir(), kdf: TEST_KDF }));
  await solA.syncOnce();
  /** Another device restored from the server (closed with the scratch). */
  const restore = async (): Promise<Soledad> => s.defer(await Soledad.restore({ ...opts, dataDir: s.dir() }));
  return { url, solA, restore };
}

export async function twoDevices(s: Scratch): Promise<{ url: string; solA: Soledad; solB: Soledad; syncAndResolve(): Promise<void> }> {
  const { url, solA, restore } = await firstDevice(s);
  const solB = await restore();
  /** A, B, A again (each has the other's writes), then both resolve their conflicts. */
  const syncAndResolve = async (): Promise<void> => {
    await solA.syncOnce();
    await solB.syncOnce();
    await solA.syncOnce();
    await solA.resolveConflicts();
    await solB.resolveConflicts();
  };
  return { url, solA, solB, syncAndResolve };
}
