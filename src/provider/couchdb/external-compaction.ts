// Compaction of the users' databases on an external Apache CouchDB (the
// provider's `couchUrl`, with admin credentials). CouchDB keeps deleted
// documents' old revisions in the database file until the database is
// compacted. CouchDB 3 has its own compaction daemon (smoosh) that does this
// by default on its own schedule, so our call is harmless there; CouchDB 2 or
// a cluster with smoosh turned off relies on it.
//
// Once an hour (one database at a time, each compaction awaited before the
// next so the server never compacts many at once): a user database whose file
// holds at least max(16 MiB, 10% of it) more than its live data
// (GET /{db}: sizes.file - sizes.active) is compacted (POST /{db}/_compact),
// at most once an hour per database. A server that reports no sizes is left alone.
import { logger } from '../../util/log.js';
import type { CouchClient } from '../store/couch-client.js';
import type { CompactionPolicy } from './compaction.js';

const log = logger('couch-compaction');
const MiB = 1024 * 1024;
/** The provider's user databases (accounts.ts names them). */
const USER_DB = /^user-[0-9a-f]+$/;
/** How long one database's compaction is waited for before going on with the next. */
const WAIT_MAX_MS = 30 * 60_000;

interface DbInfo {
  sizes?: { file?: number; active?: number };
  compact_running?: boolean;
}

export class ExternalCompactor {
  private readonly lastAt = new Map<string, number>();
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly couch: CouchClient,
    private readonly policy: CompactionPolicy = {},
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runNow().catch(() => undefined), this.policy.intervalMs ?? 3600_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** A pass over every user database now (a pass in flight is shared). */
  runNow(): Promise<void> {
    this.running ??= this.pass()
      .catch((err: Error) => log.warn({ err: err.message }, 'database compaction pass failed; the next one tries again'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async pass(): Promise<void> {
    const res = await this.couch.request('GET', '_all_dbs');
    if (!res.ok) throw new Error(`_all_dbs: HTTP ${res.status}`);
    const names = ((await res.json()) as string[]).filter((n) => USER_DB.test(n));
    for (const name of names) {
      if (this.stopped) return;
      const info = await this.info(name);
      const file = info?.sizes?.file;
      const active = info?.sizes?.active;
      if (!info || typeof file !== 'number' || typeof active !== 'number' || info.compact_running) continue;
      const slack = file - active;
      if (slack < Math.max(this.policy.minBytes ?? 16 * MiB, (this.policy.ratio ?? 0.1) * file)) continue;
      if (Date.now() - (this.lastAt.get(name) ?? 0) < (this.policy.minIntervalMs ?? 3600_000)) continue;
      this.lastAt.set(name, Date.now());
      const started = Date.now();
      const post = await this.couch.request('POST', `${encodeURIComponent(name)}/_compact`, { headers: { 'content-type': 'application/json' } });
      await post.body?.cancel();
      if (post.status !== 202 && post.status !== 200) {
        log.warn({ db: name, status: post.status }, 'CouchDB refused a database compaction');
        continue;
      }
      // One at a time: wait for this one before starting the next.
      let after = await this.info(name);
      while (after?.compact_running && !this.stopped && Date.now() - started < WAIT_MAX_MS) {
        await new Promise((resolve) => setTimeout(resolve, 2000).unref());
        after = await this.info(name);
      }
      log.info({ db: name, bytesBefore: file, bytesAfter: after?.sizes?.file ?? null, ms: Date.now() - started }, 'database compacted after deletions');
    }
  }

  private async info(name: string): Promise<DbInfo | null> {
    const res = await this.couch.request('GET', encodeURIComponent(name));
    if (!res.ok) {
      await res.body?.cancel();
      return null;
    }
    return (await res.json()) as DbInfo;
  }
}
