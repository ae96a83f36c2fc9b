// Incoming documents: the provider's MX writes each received message,
// OpenPGP-encrypted to the user's key, as a plain (not Soledad-sealed) doc
// `incoming-<uuid>` with one binary attachment (format in types.ts). Sync
// brings them here; the fetch loop reads them, stores the message, deletes
// them. Notes about ones that could not be processed are kept device-locally.
import { Readable } from 'node:stream';
import { INCOMING_ATTACHMENT, INCOMING_PREFIX, type DocumentStore, type IncomingDoc } from './types.js';
import { isNotFound, type Pouch } from './pouch.js';
import { Feed } from './feed.js';
import { readAttachment } from './attachment-read.js';
import { ChangeHub } from './change-hub.js';

const NOTE_TYPE = 'soledad:incoming-note';

export interface IncomingNote {
  error: string;
  attempts: number;
  at: string;
}

type RawIncoming = {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  receivedAt?: string;
  _attachments?: Record<string, { length?: number; stub?: boolean }>;
};

export class IncomingQueue {
  private readonly feeds = new Set<Feed<unknown>>();
  /**
   * The device-local notes, read once: only this queue writes them (mark)
   * and deletes them (remove), so the map stays exact, and listing or
   * removing a document costs no read of the local store per message.
   */
  private notes: Promise<Map<string, IncomingNote>> | null = null;
  /** Current rev of each listed incoming doc: remove() deletes it without reading it first (a stale one is read again). */
  private readonly revs = new Map<string, string>();

  constructor(
    private readonly db: Pouch,
    private readonly local: DocumentStore,
  ) {}

  private async toIncoming(raw: RawIncoming): Promise<(IncomingDoc & { note?: IncomingNote }) | null> {
    const att = raw._attachments?.[INCOMING_ATTACHMENT];
    if (raw._deleted || !raw._id.startsWith(INCOMING_PREFIX) || !att) return null;
    const id = raw._id;
    if (raw._rev) this.revs.set(id, raw._rev);
    const note = (await this.knownNotes()).get(id);
    return {
      id,
      receivedAt: raw.receivedAt ?? new Date(0).toISOString(),
      size: att.length ?? 0,
      ...(note ? { note } : {}),
      open: async () => {
        const data = await readAttachment(this.db, id, INCOMING_ATTACHMENT);
        return Readable.from([data]);
      },
    };
  }

  /** Existing incoming docs (oldest first), then — live — new ones as sync brings them. */
  async *list(opts: { live?: boolean; signal?: AbortSignal } = {}): AsyncIterable<IncomingDoc> {
    // Live: join the database's change hub before listing, so a doc that
    // arrives in between is in the listing or delivered by the hub (or both:
    // `seen` dedupes).
    let feed: Feed<RawIncoming> | null = null;
    let unsubscribe: (() => void) | null = null;
    const onAbort = (): void => feed?.end();
    if (opts.live && !opts.signal?.aborted) {
      const f = new Feed<RawIncoming>();
      feed = f;
      this.feeds.add(f as Feed<unknown>);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      unsubscribe = await ChangeHub.of(this.db).subscribe({
        change: (c) => {
          if (c.id.startsWith(INCOMING_PREFIX) && !c.deleted && c.doc) f.push(c.doc as unknown as RawIncoming);
        },
        end: (err) => f.end(err),
      });
    }
    try {
      const res = await this.db.allDocs({ startkey: INCOMING_PREFIX, endkey: `${INCOMING_PREFIX}\uffff`, include_docs: true });
      const seen = new Set<string>();
      const existing: IncomingDoc[] = [];
      for (const row of res.rows) {
        const doc = row.doc ? await this.toIncoming(row.doc as unknown as RawIncoming) : null;
        if (doc) existing.push(doc);
      }
      existing.sort((a, b) => (a.receivedAt < b.receivedAt ? -1 : a.receivedAt > b.receivedAt ? 1 : a.id < b.id ? -1 : 1));
      for (const doc of existing) {
        if (opts.signal?.aborted) return;
        seen.add(doc.id);
        yield doc;
      }
      if (!feed || opts.signal?.aborted) return;
      for await (const raw of feed) {
        if (seen.has(raw._id)) continue;
        const doc = await this.toIncoming(raw);
        if (!doc) continue;
        seen.add(doc.id);
        yield doc;
      }
    } finally {
      unsubscribe?.();
      opts.signal?.removeEventListener('abort', onAbort);
      if (feed) this.feeds.delete(feed as Feed<unknown>);
    }
  }

  private knownNotes(): Promise<Map<string, IncomingNote>> {
    if (!this.notes) {
      const reading = (async () => {
        const map = new Map<string, IncomingNote>();
        for await (const d of this.local.query<IncomingNote>(NOTE_TYPE)) map.set(d.id, d.content);
        return map;
      })();
      // A failed read is tried again next time.
      reading.catch(() => {
        if (this.notes === reading) this.notes = null;
      });
      this.notes = reading;
    }
    return this.notes;
  }

  /** Deletes the incoming doc (replicated: the server's copy goes too) and any local note. */
  async remove(id: string): Promise<void> {
    const known = this.revs.get(id);
    let removed = false;
    if (known) {
      try {
        await this.db.remove(id, known);
        removed = true;
      } catch (err) {
        // 409: the doc moved on (a replicated edit) -- read it again below; 404: already gone.
        if (isNotFound(err)) removed = true;
        else if ((err as { status?: number }).status !== 409) throw err;
      }
    }
    if (!removed) {
      try {
        const doc = await this.db.get(id);
        await this.db.remove(doc._id, doc._rev);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    this.revs.delete(id);
    const notes = await this.knownNotes();
    if (notes.has(id)) {
      await this.local.delete(NOTE_TYPE, id);
      notes.delete(id);
    }
  }

  /**
   * Deletes several incoming docs in one write (the fetch loop removes a
   * stored batch at once: one commit, one changes() query per live feed,
   * instead of one each). Docs listed with a rev are deleted with it; those
   * the write refuses (a stale rev: 409) or that were never listed here go
   * through remove() one by one. Idempotent, like remove().
   */
  async removeMany(ids: readonly string[]): Promise<void> {
    const unique = [...new Set(ids)];
    const known = unique.filter((id) => this.revs.has(id));
    const alone = new Set(unique.filter((id) => !this.revs.has(id)));
    if (known.length > 0) {
      const results = await this.db.bulkDocs(known.map((id) => ({ _id: id, _rev: this.revs.get(id)!, _deleted: true })));
      results.forEach((r, i) => {
        const id = known[i]!;
        if ('error' in r && r.error) {
          // 404: already gone (another device, a retry); anything else: the one-by-one path decides.
          this.revs.delete(id);
          if (r.status !== 404) alone.add(id);
        } else this.revs.delete(id);
      });
    }
    for (const id of alone) await this.remove(id);
    const notes = await this.knownNotes();
    for (const id of unique) {
      if (!notes.has(id)) continue;
      await this.local.delete(NOTE_TYPE, id);
      notes.delete(id);
    }
  }

  /** Which of these incoming docs are still there (not deleted). */
  async existing(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const res = await this.db.allDocs({ keys: [...new Set(ids)] });
    const rows = res.rows as Array<{ key: string; error?: string; value?: { deleted?: boolean } }>;
    return new Set(rows.filter((r) => !r.error && r.value && !r.value.deleted).map((r) => r.key));
  }

  /** Device-local record that this incoming doc could not be processed (it is kept, and reported). */
  async mark(id: string, note: { error: string; attempts: number }): Promise<void> {
    const notes = await this.knownNotes();
    const content: IncomingNote = { error: note.error, attempts: note.attempts, at: new Date().toISOString() };
    await this.local.put<IncomingNote>(NOTE_TYPE, id, content);
    notes.set(id, content);
  }

  close(): void {
    for (const f of this.feeds) f.end();
  }
}
