// The provider's embedded CouchDB-protocol server: express-pouchdb as its own
// standalone express@4 app over PouchDB on LevelDB (one LevelDB directory per
// database under `dataDir`). It speaks enough of the CouchDB HTTP API for
// PouchDB/CouchDB replication; the provider's authenticating gateway sits in
// front of it, and an Apache CouchDB cluster given by URL can replace it.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import PouchDB from 'pouchdb';
import expressPouchDB from 'express-pouchdb';
import { logger } from '../../util/log.js';

export interface EmbeddedCouchOptions {
  /** Directory holding one LevelDB per database; created if missing. */
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
}

export interface EmbeddedCouch {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:5984/`. */
  url: string;
  /** Stops accepting connections, drops open ones and closes every LevelDB. */
  close(): Promise<void>;
}

const log = logger('embedded-couch');

export async function startEmbeddedCouch(opts: EmbeddedCouchOptions): Promise<EmbeddedCouch> {
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const host = opts.host ?? '127.0.0.1';

  // Every PouchDB the app opens is tracked so close() can release the
  // LevelDB locks: a restart on the same dataDir in the same process must work.
  const open = new Set<PouchDB.Database>();
  // Database names, read from dataDir once, then kept current as databases
  // are opened and destroyed (express-pouchdb asks on every request).
  let known: Promise<Set<string>> | null = null;
  const listDir = async (): Promise<Set<string>> => {
    const entries = await fs.promises.readdir(dataDir, { withFileTypes: true });
    return new Set(entries.filter((e) => e.isDirectory() && !e.name.includes('-mrview-')).map((e) => e.name));
  };
  const Base = PouchDB.defaults({ prefix: dataDir + path.sep } as PouchDB.Configuration.DatabaseConfiguration);
  class TrackedPouch extends (Base as unknown as new (name?: string, o?: object) => PouchDB.Database) {
    constructor(name?: string, o?: object) {
      super(name, o);
      open.add(this);
      if (name && !name.includes('-mrview-')) {
        void known?.then((set) => set.add(name));
        this.once('destroyed', () => void known?.then((set) => set.delete(name)));
      }
    }

    /**
     * The databases are the LevelDB directories in dataDir. Providing this
     * keeps express-pouchdb from installing pouchdb-all-dbs, which listens on
     * PouchDB's process-wide event emitter and so would record every database
     * any PouchDB in this process opens (clients, other servers) as ours.
     */
    static allDbs(cb?: (err: Error | null, dbs?: string[]) => void): Promise<string[]> {
      known ??= listDir();
      known.catch(() => (known = null));
      const listing = known.then((set) => [...set].sort());
      if (cb) listing.then((dbs) => cb(null, dbs), (err: Error) => cb(err));
      return listing;
    }
  }

  // 'minimumForPouchDB' mounts only the replication routes: no Fauxton, no
  // config file or log file written into the cwd, no request log. Response
  // compression is off: what this server stores is ciphertext, which does not
  // compress, so gzip would only burn CPU.
  const app = expressPouchDB(TrackedPouch, {
    mode: 'minimumForPouchDB',
    overrideMode: { exclude: ['compression'] },
    configPath: path.join(dataDir, 'config.json'),
    logPath: path.join(dataDir, 'log.txt'),
    inMemoryConfig: true,
  });

  const server = http.createServer(app);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}/`;
  log.info({ url, dataDir }, 'embedded CouchDB server listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Long-poll/continuous _changes requests would keep close() waiting forever.
        for (const s of sockets) s.destroy();
        await stopped;
        await Promise.all(
          [...open].map(async (db) => {
            try {
              await db.close();
            } catch {
              // already closed through another instance sharing the same LevelDB
            }
          }),
        );
        open.clear();
        log.info({ url }, 'embedded CouchDB server stopped');
      })();
      return closing;
    },
  };
}
