// The only place Soledad constructs PouchDB databases: local ones on LevelDB
// under the data dir, remote ones over the CouchDB HTTP protocol with the
// caller's headers (the provider gateway wants `Authorization: Bearer …`).
import path from 'node:path';
import fs from 'node:fs';
import PouchDB from 'pouchdb';
import { reopenableLeveldown } from './reopenable-leveldown.js';

export type Pouch = PouchDB.Database<Record<string, unknown>>;

export interface RemoteSpec {
  /** Database URL, e.g. https://provider.example/db/alice or http://127.0.0.1:5984/userdb. */
  url: string;
  /** Sent with every request (bearer token, basic auth). */
  headers?: Record<string, string>;
}

/**
 * Every changes() call PouchDB runs adds a 'destroyed' listener to its
 * database until it completes, and each write makes every live feed run one
 * (pouchdb-core Changes.eventFunction). Live feeds of the mail index, the
 * fetch loop, conflict resolution and replication, plus the paged reads of
 * queries and the type index, legitimately exceed Node's default of 10 at
 * once; a real leak (a feed per session never cancelled) still trips this.
 */
const MAX_LISTENERS = 100;

export function openLocal(dataDir: string, name: string): Pouch {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // auto_compaction drops superseded revision bodies: old ciphertexts of
  // edited documents do not pile up on disk. Random revision ids instead of
  // PouchDB's default md5 of the JSON document: that JSON renders a blob
  // chunk's 32 KiB attachment as an array of numbers (milliseconds per chunk
  // written), and buys nothing here — a sealed document has a random nonce,
  // so two devices never write identical bodies that a content hash would unify.
  // The LevelDB handle is reopened after a write fails on a full disk once
  // there is space again (reopenable-leveldown.ts): no restart needed.
  const db = new PouchDB(path.join(dataDir, name), { adapter: 'leveldb', db: reopenableLeveldown, auto_compaction: true, deterministic_revs: false } as PouchDB.Configuration.DatabaseConfiguration);
  db.setMaxListeners(MAX_LISTENERS);
  return db;
}

export function openRemote(remote: RemoteSpec): Pouch {
  const headers = remote.headers ?? {};
  const opts = {
    skip_setup: true,
    fetch(url: string, init: { headers: Headers }) {
      for (const [k, v] of Object.entries(headers)) init.headers.set(k, v);
      return PouchDB.fetch(url, init as unknown as RequestInit);
    },
  };
  const db = new PouchDB(remote.url, opts as unknown as PouchDB.Configuration.RemoteDatabaseConfiguration);
  db.setMaxListeners(MAX_LISTENERS);
  return db;
}

/** PouchDB's 404 for a missing or deleted document. */
export function isNotFound(err: unknown): boolean {
  return (err as { status?: number })?.status === 404;
}

export function isConflict(err: unknown): boolean {
  return (err as { status?: number })?.status === 409;
}
