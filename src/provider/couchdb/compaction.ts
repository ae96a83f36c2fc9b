// Compaction of the embedded server's databases: giving deleted documents'
// disk space back. A deletion (a client's tombstone replicated in, a blob the
// blob GC removed, an incoming document the fetch loop is done with) leaves
// the previous revision's body and attachments stored under a non-leaf
// revision; PouchDB never drops those without a compaction, and LevelDB keeps
// even deleted keys on disk until its own compaction reaches them, which on a
// database written little can take forever.
//
// Per database written since the last pass (one at a time, off the request
// path, never two passes at once):
// 1. Its changes since our checkpoint are walked: each document with an
//    older revision is compacted (PouchDB compactDocument: non-leaf bodies
//    and the attachments only they referenced go, leaves and tombstones
//    stay, so a tombstone still replicates and clients' _local checkpoints
//    are untouched). Document by document, each under the adapter's write
//    lock for a moment: deliveries and replication go on in between (PouchDB's
//    own compact() queues a compaction of every changed document at once).
//    The bytes superseded are counted as we go.
// 2. Once the bytes counted since the last LevelDB compaction reach 10% of
//    the database's files (at least 16 MiB), LevelDB compacts the whole
//    database, so the space shows on disk: at most ~10x the bytes freed are
//    rewritten, and at most once an hour per database.
// The checkpoint (update seq) and the bytes counted are kept in
// <dataDir>/compaction.json; a database not written since the provider
// started is looked at again when it is next written, one whose rewrite is
// due but waits for the hour at every pass until it is done.
import fs from 'node:fs';
import path from 'node:path';
import { logger } from '../../util/log.js';

const log = logger('couch-compaction');
const MiB = 1024 * 1024;
const PAGE = 200;

export interface CompactionPolicy {
  /** Time between passes over the databases written since the last one (default 5 min). */
  intervalMs?: number;
  /** LevelDB rewrites a database once the bytes freed since its last rewrite reach max(minBytes, ratio x its size) (16 MiB, 0.1). */
  minBytes?: number;
  ratio?: number;
  /** Least time between two LevelDB rewrites of one database (default 1 h). */
  minIntervalMs?: number;
}

/** The longest time between passes a setting may give (setInterval takes at most ~24.8 days). */
const MAX_INTERVAL_MS = 24 * 3600_000;

/**
 * The provider's `--compaction` setting: `off` (never compact), or the time
 * between passes as a whole number with s, m or h (`30s`, `5m`, `2h`; 1 s to
 * 24 h). Null: neither.
 */
export function parseCompactionSetting(text: string): CompactionPolicy | false | null {
  const t = text.trim().toLowerCase();
  if (t === 'off') return false;
  const m = /^(\d+)\s*([smh])$/.exec(t);
  if (!m) return null;
  const intervalMs = Number(m[1]) * { s: 1000, m: 60_000, h: 3600_000 }[m[2] as 's' | 'm' | 'h'];
  return intervalMs >= 1000 && intervalMs <= MAX_INTERVAL_MS ? { intervalMs } : null;
}

/** The leveldown handle of an open database (compactRange, as leveldown 6 has it). */
export interface LevelHandle {
  compactRange(start: Buffer, end: Buffer, cb: (err?: Error | null) => void): void;
}

interface DbState {
  /** The update seq the walk reached. */
  seq: number | string;
  /** Bytes of superseded revisions compacted since LevelDB last rewrote the database. */
  pending: number;
  /** When LevelDB last rewrote it (ms), 0 never. */
  rewrittenAt: number;
}

export interface CompactionReport {
  db: string;
  documents: number;
  freedBytes: number;
  rewritten: boolean;
  bytesBefore: number;
  bytesAfter: number;
}

/** Every key PouchDB's leveldb adapter writes (sublevel keys start with 0xff). */
const ALL_KEYS: [Buffer, Buffer] = [Buffer.from([0]), Buffer.alloc(8, 0xff)];

type CompactablePouch = PouchDB.Database & { compactDocument(id: string, maxHeight: number): Promise<unknown> };

export class EmbeddedCompactor {
  private readonly dirty = new Set<string>();
  private readonly stateFile: string;
  private state: Record<string, DbState>;
  private running: Promise<CompactionReport[]> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly minBytes: number;
  private readonly ratio: number;
  private readonly minIntervalMs: number;

  constructor(
    private readonly dataDir: string,
    /** The open database (the server's own PouchDB object); rejects when it does not exist. */
    private readonly open: (db: string) => Promise<PouchDB.Database>,
    /** The leveldown handle of a database's directory, once it was opened. */
    private readonly handle: (location: string) => LevelHandle | undefined,
    private readonly policy: CompactionPolicy = {},
  ) {
    this.stateFile = path.join(dataDir, 'compaction.json');
    this.state = readState(this.stateFile);
    this.minBytes = policy.minBytes ?? 16 * MiB;
    this.ratio = policy.ratio ?? 0.1;
    this.minIntervalMs = policy.minIntervalMs ?? 3600_000;
    // A rewrite that was due but held back by minIntervalMs is looked at again.
    for (const [db, s] of Object.entries(this.state)) if (s.pending > 0) this.dirty.add(db);
  }

  /** A write reached `db` (a request other than GET/HEAD, or an in-process write). */
  written(db: string): void {
    if (db && !db.startsWith('_') && !db.includes('-mrview-')) this.dirty.add(db);
  }

  start(): void {
    const every = this.policy.intervalMs ?? 5 * 60_000;
    this.timer = setInterval(() => void this.runNow().catch(() => undefined), every);
    this.timer.unref();
  }

  /** A pass over the databases written since the last one (a pass in flight is shared). */
  runNow(): Promise<CompactionReport[]> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<CompactionReport[]> {
    const reports: CompactionReport[] = [];
    const names = [...this.dirty].sort();
    this.dirty.clear();
    for (const name of names) {
      if (this.stopped) {
        this.dirty.add(name);
        continue;
      }
      try {
        const report = await this.compact(name);
        if (report) reports.push(report);
      } catch (err) {
        this.dirty.add(name); // tried again next pass
        log.warn({ db: name, err: (err as Error).message }, 'database compaction failed; the next pass tries again');
      }
    }
    if (names.length > 0) writeState(this.stateFile, this.state);
    return reports;
  }

  private async compact(name: string): Promise<CompactionReport | null> {
    let db: CompactablePouch;
    try {
      db = (await this.open(name)) as CompactablePouch;
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        delete this.state[name];
        return null;
      }
      throw err;
    }
    const st = (this.state[name] ??= { seq: 0, pending: 0, rewrittenAt: 0 });
    // A database destroyed and created again (same name) starts its seqs over.
    if (Number((await db.info()).update_seq) < Number(st.seq)) Object.assign(st, { seq: 0, pending: 0 });
    let documents = 0;
    let freedBytes = 0;
    for (;;) {
      const page = await db.changes({ since: st.seq, limit: PAGE, style: 'all_docs', return_docs: true });
      for (const row of page.results) {
        if (this.stopped) return null; // st.seq covers the rows done so far
        if (row.changes.length > 1 || generation(row.changes[0]!.rev) > 1) {
          const bytes = await supersededBytes(db, row.id, row.changes[0]!.rev);
          await db.compactDocument(row.id, 0);
          documents++;
          freedBytes += bytes;
          st.pending += bytes;
        }
        st.seq = row.seq;
      }
      st.seq = page.last_seq;
      if (page.results.length < PAGE) break;
      await new Promise((resolve) => setImmediate(resolve)); // the event loop gets a turn between pages
    }
    const location = path.join(this.dataDir, name);
    const bytesBefore = directoryBytes(location);
    const worth = st.pending > 0 && st.pending >= Math.max(this.minBytes, this.ratio * bytesBefore);
    const due = worth && Date.now() - st.rewrittenAt >= this.minIntervalMs;
    // Held back by minIntervalMs: looked at again by the next passes, written to or not.
    if (worth && !due) this.dirty.add(name);
    let bytesAfter = bytesBefore;
    let rewritten = false;
    if (due) {
      const h = this.handle(location);
      if (h) {
        const started = Date.now();
        await new Promise<void>((resolve, reject) => h.compactRange(ALL_KEYS[0], ALL_KEYS[1], (err) => (err ? reject(err) : resolve())));
        st.pending = 0;
        st.rewrittenAt = Date.now();
        bytesAfter = directoryBytes(location);
        rewritten = true;
        log.info({ db: name, bytesBefore, bytesAfter, ms: st.rewrittenAt - started }, 'database rewritten after deletions');
      }
    }
    if (documents > 0) log.debug({ db: name, documents, freedBytes, pending: st.pending }, 'superseded revisions compacted');
    return { db: name, documents, freedBytes, rewritten, bytesBefore, bytesAfter };
  }
}

function generation(rev: string): number {
  return Number.parseInt(rev, 10) || 0;
}

/**
 * Bytes the compaction of this document frees: the bodies of its available
 * non-leaf revisions (on the winning leaf's path) and their attachments that
 * the leaf does not share.
 */
async function supersededBytes(db: PouchDB.Database, id: string, leafRev: string): Promise<number> {
  try {
    const leaf = await db.get(id, { rev: leafRev, revs_info: true });
    const kept = new Set(Object.values(leaf._attachments ?? {}).map((a) => a.digest));
    let bytes = 0;
    for (const info of (leaf._revs_info ?? []).slice(1)) {
      if (info.status !== 'available') continue;
      const old = await db.get(id, { rev: info.rev });
      const atts = old._attachments ?? {};
      for (const att of Object.values(atts)) {
        if (kept.has(att.digest)) continue;
        kept.add(att.digest);
        bytes += (att as { length?: number }).length ?? 0;
      }
      bytes += JSON.stringify({ ...old, _attachments: undefined }).length;
    }
    return bytes;
  } catch {
    return 0; // gone meanwhile: nothing to count
  }
}

/** Bytes of the files in a database's directory (what the provider's disk holds for it). */
function directoryBytes(dir: string): number {
  let total = 0;
  try {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isFile()) total += fs.statSync(path.join(dir, entry.name)).size;
    }
  } catch {
    // not there (yet)
  }
  return total;
}

function readState(file: string): Record<string, DbState> {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, DbState>;
    return typeof parsed === 'object' && parsed !== null ? parsed : {};
  } catch {
    return {}; // missing or damaged: every database is walked from its start again when next written
  }
}

function writeState(file: string, state: Record<string, DbState>): void {
  try {
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not save the compaction checkpoints');
  }
}
