// `sealmail import`: mbox files and Maildirs into one mailbox, through any
// target (the running daemon over its control socket, or the store opened
// directly). Messages are stored with their internal date and (Maildir)
// flags, byte for byte except that a bare LF (the file's newline) becomes
// CRLF, the line end of a message in IMAP (line-ends.ts).
//
// Idempotent: a message already in the mailbox is skipped (as many copies as
// the mailbox holds: the k-th copy of the same bytes in a run is skipped when
// the mailbox had at least k of them when the run began), whether it was
// stored with CRLF or, by an import before the conversion, with the source's
// bare LF. Each stored message gets the delivery id "import:<sha256>:<k>",
// the hash of its bytes in the source (as before the conversion, so such an
// import run again matches its ids too), so a run interrupted between
// storing a message and counting it stores it once when run again.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { countMbox, fromLineDate, NotMboxError, readMbox } from './mbox.js';
import { isMaildir, listMaildir } from './maildir.js';
import { bareLfToCrlf } from './line-ends.js';
import { UserError } from '../../util/user-error.js';

export interface ImportMessage {
  raw: Buffer;
  flags: string[];
  /** INTERNALDATE, epoch ms. */
  internalDate: number;
}

export interface ImportSource {
  path: string;
  kind: 'mbox' | 'maildir';
  /** Messages in the source. */
  total: number;
  messages(): AsyncIterable<ImportMessage>;
}

/** What `sealmail status` shows of an import. */
export interface ImportProgress {
  active: boolean;
  /** The paths imported, comma-separated. */
  source: string;
  mailbox: string;
  total: number;
  /** Messages read so far (imported + skipped). */
  done: number;
  imported: number;
  /** Already in the mailbox. */
  skipped: number;
  startedAt: string;
  finishedAt: string | null;
  /** Why it stopped early, when it did. */
  error?: string;
}

/** A message to store (CRLF line ends) with its delivery id ("import:<sha256 of the source bytes>:<k>"). */
export interface ImportDelivery {
  message: ImportMessage;
  deliveryId: string;
}

export interface ImportTarget {
  /** Creates the mailbox when missing; returns how many copies of each content hash (hex SHA-256) it holds. */
  begin(progress: ImportProgress): Promise<Map<string, number>>;
  /**
   * Stores a batch of messages; for each, true when its delivery id was
   * already stored. Rejects (after settling them all) if any failed.
   */
  deliver(mailbox: string, batch: ImportDelivery[]): Promise<boolean[]>;
  /** Progress for `sealmail status` (every second or so, and at the end). */
  report(progress: ImportProgress): Promise<void>;
}

/** The Date: header of a message, epoch ms; null when missing or unreadable. */
export function headerDate(raw: Buffer): number | null {
  const ends = [raw.indexOf('\n\n'), raw.indexOf('\r\n\r\n')].filter((i) => i !== -1);
  const head = raw.subarray(0, ends.length ? Math.min(...ends) : Math.min(raw.length, 64 * 1024)).toString('latin1');
  const m = /^date:[ \t]*(.+(?:\r?\n[ \t].+)*)/im.exec(head);
  if (!m) return null;
  const t = Date.parse(m[1]!.replace(/\r?\n/g, ' ').replace(/\([^)]*\)/g, '').trim());
  return Number.isFinite(t) ? t : null;
}

/** An mbox file or a Maildir directory; one clear sentence when it is neither. */
export async function openImportSource(path: string): Promise<ImportSource> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UserError(`${path} does not exist`);
  }
  if (st.isDirectory()) {
    if (!isMaildir(path)) throw new UserError(`${path} is a directory but not a Maildir (it has no cur/ or new/)`);
    const entries = await listMaildir(path);
    return {
      path,
      kind: 'maildir',
      total: entries.length,
      async *messages() {
        for (const e of entries) yield { raw: await readFile(e.path), flags: e.flags, internalDate: e.internalDate };
      },
    };
  }
  let total: number;
  try {
    total = await countMbox(path);
  } catch (err) {
    if (err instanceof NotMboxError) throw new UserError(`${path} is neither an mbox file (it must start with a "From " line) nor a Maildir`);
    throw err;
  }
  const mtime = Math.floor(st.mtimeMs);
  return {
    path,
    kind: 'mbox',
    total,
    async *messages() {
      for await (const m of readMbox(path)) {
        yield { raw: m.raw, flags: [], internalDate: fromLineDate(m.fromLine) ?? headerDate(m.raw) ?? mtime };
      }
    },
  };
}

export interface RunImportOptions {
  mailbox: string;
  /** Called after every batch (the CLI's progress bar). */
  onProgress?: (p: ImportProgress) => void;
  /** How often the target hears of progress. Default 1 s. */
  reportEveryMs?: number;
  /** Messages handed to the target at once; default 256. */
  batchCount?: number;
  /** Bytes handed to the target at once (a larger message still goes, alone); default 8 MiB. */
  batchBytes?: number;
}

// Messages go to the store in batches (MailStore.deliverMany: contents
// written together, entries in one write, UIDs in the source's order), and a
// daemon is asked once per batch, not once per message. 2,000 small messages
// through a quickstart daemon at load ~13: 42 s -> 6 s, daemon CPU (its
// provider's replication included) 12 -> 3.2 ms a message; 256 took ~20%
// less CPU than 64.
const BATCH_COUNT = 256;
const BATCH_BYTES = 8 << 20;

export async function runImport(target: ImportTarget, sources: ImportSource[], opts: RunImportOptions): Promise<ImportProgress> {
  const progress: ImportProgress = {
    active: true,
    source: sources.map((s) => s.path).join(', '),
    mailbox: opts.mailbox,
    total: sources.reduce((n, s) => n + s.total, 0),
    done: 0,
    imported: 0,
    skipped: 0,
    startedAt: new Date().toISOString(),
    finishedAt: null,
  };
  const present = await target.begin({ ...progress });
  const seen = new Map<string, number>();
  const every = opts.reportEveryMs ?? 1000;
  const maxCount = opts.batchCount ?? BATCH_COUNT;
  const maxBytes = opts.batchBytes ?? BATCH_BYTES;
  let reported = Date.now();
  let batch: ImportDelivery[] = [];
  let batchBytes = 0;
  /** Messages already in the mailbox, counted with the next batch (the order the source has them in). */
  let skippedAhead = 0;
  const flush = async (): Promise<void> => {
    const duplicates = batch.length > 0 ? await target.deliver(opts.mailbox, batch) : [];
    const dup = duplicates.filter(Boolean).length;
    progress.skipped += skippedAhead + dup;
    progress.imported += duplicates.length - dup;
    progress.done += skippedAhead + duplicates.length;
    batch = [];
    batchBytes = 0;
    skippedAhead = 0;
    opts.onProgress?.({ ...progress });
    if (Date.now() - reported >= every) {
      reported = Date.now();
      await target.report({ ...progress });
    }
  };
  try {
    for (const source of sources) {
      for await (const message of source.messages()) {
        const hash = createHash('sha256').update(message.raw).digest('hex');
        const raw = bareLfToCrlf(message.raw);
        // The mailbox's hashes are of the stored bytes: CRLF, or the source's own bytes from an import before the conversion.
        const storedHash = raw === message.raw ? hash : createHash('sha256').update(raw).digest('hex');
        const there = (present.get(hash) ?? 0) + (storedHash === hash ? 0 : (present.get(storedHash) ?? 0));
        const k = seen.get(hash) ?? 0;
        seen.set(hash, k + 1);
        if (k < there) skippedAhead++;
        else {
          if (batch.length > 0 && (batch.length >= maxCount || batchBytes + raw.length > maxBytes)) await flush();
          batch.push({ message: { ...message, raw }, deliveryId: `import:${hash}:${k}` });
          batchBytes += raw.length;
        }
        // A long run of mail already there still moves the progress bar.
        if (skippedAhead >= maxCount) await flush();
      }
    }
    await flush();
  } catch (err) {
    progress.error = (err as Error).message;
    throw err;
  } finally {
    progress.active = false;
    progress.finishedAt = new Date().toISOString();
    // The source may have changed since it was counted.
    if (!progress.error) progress.total = progress.done;
    await target.report({ ...progress }).catch(() => undefined);
  }
  return progress;
}
