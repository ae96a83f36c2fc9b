// The provider's embedded CouchDB-protocol server: express-pouchdb as its own
// standalone express@4 app over PouchDB on LevelDB (one LevelDB directory per
// database under `dataDir`). It speaks enough of the CouchDB HTTP API for
// PouchDB/CouchDB replication; the provider's authenticating gateway sits in
// front of it, and an Apache CouchDB cluster given by URL can replace it.
import http from 'node:http';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import PouchDB from 'pouchdb';
import expressPouchDB from 'express-pouchdb';
import { logger } from '../../util/log.js';
import { CouchError, type InProcessWriter } from '../store/couch-client.js';
import { isMultipartRelated, MultipartError, parseMultipartDoc, readBody } from './multipart.js';
import { GroupCommit } from './group-commit.js';
import { EmbeddedCompactor, type CompactionPolicy, type CompactionReport, type LevelHandle } from './compaction.js';

type LevelDown = LevelHandle & { destroy?: unknown };
/** Table files each user database keeps open (see Base below). */
const EMBEDDED_MAX_OPEN_FILES = 100;
const leveldown = createRequire(import.meta.url)('leveldown') as ((location: string) => LevelDown) & { destroy(location: string, cb: (err?: Error) => void): void };

// express-pouchdb's own cache of open databases (not part of its typed
// surface): in-process writes must use the same PouchDB objects as its HTTP
// routes, or its live _changes feeds would not hear of them.
const { getOrCreateDB } = createRequire(import.meta.url)('express-pouchdb/lib/create-or-delete-dbs') as {
  getOrCreateDB(PouchDB: unknown, name: string): Promise<PouchDB.Database>;
};

export interface EmbeddedCouchOptions {
  /** Directory holding one LevelDB per database; created if missing. */
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Giving deleted documents' disk space back (./compaction.ts); false: never. */
  compaction?: CompactionPolicy | false;
}

export interface EmbeddedCouch {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:5984/`. */
  url: string;
  /** Direct writes for the provider's own hot paths in this process (CouchClient's `inProcess`). */
  local: InProcessWriter;
  /** Runs a compaction pass over the databases written since the last one now (tests, admin tools). */
  compactNow(): Promise<CompactionReport[]>;
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
  // Revisions of documents written through this server's own API are random
  // (CouchDB-style `N-<32 hex>`), not PouchDB's default MD5 of the whole JSON
  // body: that hashes every attachment's data again (after base64 decoding
  // and verifying it), the largest single cost of storing an MX delivery,
  // and it cannot hash a binary attachment at all. Replicated writes carry
  // their revisions and are not affected.
  // LevelDB handles by directory, for the compaction's LevelDB rewrite. The
  // factory's name keys PouchDB's own cache of open LevelDBs (by location).
  const handles = new Map<string, LevelDown>();
  const embeddedLeveldown = Object.assign(
    function embeddedLeveldown(location: string): LevelDown {
      const h = leveldown(location);
      handles.set(path.resolve(location), h);
      return h;
    },
    { destroy: (location: string, cb: (err?: Error) => void) => leveldown.destroy(location, cb) },
  );
  // maxOpenFiles (passed through to LevelDB's open): leveldown's default of
  // 1000 table files per database keeps every page of them read mapped in
  // the process (LevelDB reads tables through mmap), so one user's full pull
  // could hold ~2 GB; in the quickstart that is the daemon's own process. The
  // local stores use the same bound (src/soledad/reopenable-leveldown.ts).
  const Base = PouchDB.defaults({
    prefix: dataDir + path.sep,
    deterministic_revs: false,
    db: embeddedLeveldown,
    maxOpenFiles: EMBEDDED_MAX_OPEN_FILES,
  } as PouchDB.Configuration.DatabaseConfiguration);
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

  // Set once the databases can be opened (below); writes before that are none of its business.
  let compactor: EmbeddedCompactor | null = null;
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') compactor?.written(databaseOf(req.url));
    if (isLongpollChanges(req.url)) callLateCloseListeners(req.socket);
    if (req.method === 'PUT' && isMultipartRelated(req.headers['content-type'])) void multipartPut(req, res);
    else app(req, res);
  });
  // A multipart/related document PUT (./multipart.ts) is parsed here and
  // handed to express-pouchdb's ordinary JSON PUT route as an already
  // parsed body (body-parser skips a request marked `_body`).
  const multipartPut = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    try {
      const contentType = req.headers['content-type']!;
      const doc = parseMultipartDoc(await readBody(req), contentType);
      Object.assign(req, { body: doc, _body: true });
      req.headers['content-type'] = 'application/json';
      app(req, res);
    } catch (err) {
      const status = err instanceof MultipartError ? err.status : 500;
      const reason = err instanceof MultipartError ? err.reason : 'could not read the request';
      if (!(err instanceof MultipartError)) log.warn({ err: (err as Error).message }, 'multipart document PUT failed');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: status === 413 ? 'too_large' : 'bad_request', reason }));
    }
  };
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
  const database = async (name: string): Promise<PouchDB.Database> => {
    if (closing) throw new CouchError(503, 'unavailable', 'the server is stopping');
    if (!(await TrackedPouch.allDbs()).includes(name)) throw new CouchError(404, 'not_found', 'Database does not exist.');
    return getOrCreateDB(TrackedPouch, name);
  };
  const asCouchError = (err: unknown): CouchError => {
    if (err instanceof CouchError) return err;
    const e = err as { status?: number; name?: string; message?: string };
    return new CouchError(e.status ?? 500, e.name ?? 'error', e.message ?? String(err));
  };
  // Concurrent deliveries to one database are committed together (./group-commit.ts).
  const writes = new GroupCommit(database, asCouchError);
  compactor = opts.compaction === false ? null : new EmbeddedCompactor(dataDir, database, (location) => handles.get(location), opts.compaction);
  compactor?.start();
  const local: InProcessWriter = {
    put: (db, doc) => {
      compactor?.written(db);
      return writes.put(db, doc);
    },
    async remove(db, id, rev) {
      compactor?.written(db);
      try {
        await (await database(db)).remove(id, rev);
      } catch (err) {
        throw asCouchError(err);
      }
    },
  };

  return {
    url,
    local,
    compactNow: () => compactor?.runNow() ?? Promise.resolve([]),
    close() {
      closing ??= (async () => {
        // A compaction in flight finishes its document (or LevelDB rewrite) first.
        await compactor?.stop();
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

/** `/{db}/_changes?feed=longpoll`: the request express-pouchdb answers with a live feed. */
function isLongpollChanges(url: string | undefined): boolean {
  const [path = '', query = ''] = (url ?? '').split('?', 2);
  return path.endsWith('/_changes') && new URLSearchParams(query).get('feed') === 'longpoll';
}

/**
 * express-pouchdb's longpoll _changes route listens for its connection's
 * 'close' (which cancels the live feed and clears its heartbeat interval)
 * only once its first read of the changes has returned. A client gone before
 * then (PouchDB stopping a live replication, a CLI exiting) left the live feed
 * and a 10 s interval writing to a dead socket for good: a leak per aborted
 * poll, and a test process that never exits. On such a socket a 'close'
 * listener added after the close is called at once.
 */
function callLateCloseListeners(socket: Socket): void {
  if (lateClose.has(socket)) return;
  lateClose.add(socket);
  const on = socket.on.bind(socket) as (event: string | symbol, listener: (...args: unknown[]) => void) => Socket;
  const patched = (event: string | symbol, listener: (...args: unknown[]) => void): Socket => {
    if (event === 'close' && socket.closed) {
      setImmediate(() => listener.call(socket, false));
      return socket;
    }
    return on(event, listener);
  };
  socket.on = socket.addListener = patched as Socket['on'];
}
const lateClose = new WeakSet<Socket>();

/** The database a request's path names (its first segment, decoded), or '' for a server endpoint. */
function databaseOf(url: string | undefined): string {
  const first = (url ?? '').split(/[/?]/, 2)[1] ?? '';
  try {
    return decodeURIComponent(first);
  } catch {
    return '';
  }
}
