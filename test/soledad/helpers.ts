// Shared set-up for the Soledad tests: temp dirs, an embedded CouchDB server
// over real TCP, and scrypt parameters small enough for tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedCouch, type EmbeddedCouch } from '../../src/provider/couchdb/embedded.js';
import type { KdfParams } from '../../src/soledad/secrets.js';

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
