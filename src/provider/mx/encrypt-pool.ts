// OpenPGP encryption of incoming mail on a small pool of worker threads
// (./encrypt-worker.ts), so the provider's event loop keeps to SMTP and
// storage. A small plaintext is moved to a worker whole and its ciphertext
// moved back; a large one streams both ways in blocks with a window of
// credits (./encrypt-protocol.ts), so a 50 MB message is never held whole on
// either side of the pool. At most JOBS_PER_WORKER jobs run in a worker;
// more wait here in arrival order, and past WAITING_MAX new ones are refused
// with 451. A job that fails, is aborted or loses its worker rejects (the
// delivery answers 451 and stores nothing); a worker that stops is replaced.
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import type * as openpgp from 'openpgp';
import { logger } from '../../util/log.js';
import { DeliveryError } from './errors.js';
import { STREAM_BLOCK, STREAM_WINDOW, type FromWorker, type ToWorker } from './encrypt-protocol.js';
import { readPlaintext, streamedChunks } from './plaintext.js';
import { StreamedJob } from './encrypt-stream.js';

const log = logger('mx-encrypt-pool');

const JOBS_PER_WORKER = 8;
const WAITING_MAX = 512;
/** A worker that stops before it was ready is started again only after this. */
const RESPAWN_DELAY_MS = 1000;

/** The pool's side of one job: what the worker sends for it, or its end when the worker is lost. */
interface JobSink {
  onMessage(m: FromWorker): void;
  fail(err: Error): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** The worker stopped: nothing more may be sent to it. */
  dead: boolean;
  jobs: Map<number, JobSink>;
}

interface Reserved {
  slot: Slot;
  job: number;
}

interface Waiter {
  take(slot: Slot): void;
  reject(err: Error): void;
}

/** The same key object is serialised once and known to the workers by one id. */
const keyIds = new WeakMap<openpgp.PublicKey, { id: number; bytes: Uint8Array }>();
let nextKeyId = 1;
function keyRef(key: openpgp.PublicKey): { id: number; bytes: Uint8Array } {
  let ref = keyIds.get(key);
  if (!ref) keyIds.set(key, (ref = { id: nextKeyId++, bytes: key.write() }));
  return ref;
}

/** Copies chunks into one new ArrayBuffer of their exact size, which can be moved to a worker. */
function movableCopy(chunks: Buffer[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Under tsx (sources) the worker is TypeScript too and registers tsx itself; built, it is plain JavaScript. */
function startWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./encrypt-worker.js', here));
  const script = new URL('./encrypt-worker.ts', here).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(script)}); })`;
  return new Worker(code, { eval: true });
}

export class EncryptPool {
  private readonly slots: Array<Slot | null>;
  private readonly waiting: Waiter[] = [];
  private nextJob = 1;
  private closed = false;

  constructor(readonly size: number) {
    if (size < 1) throw new Error('EncryptPool: at least one worker');
    this.slots = Array.from({ length: size }, () => null);
    for (let i = 0; i < size; i++) this.spawn(i);
  }

  /**
   * The ciphertext of `plaintext` to `key`: whole for a small message, else
   * a stream to be consumed by the caller (stopping early cancels the job).
   * `signal` aborts the job.
   */
  async encrypt(key: openpgp.PublicKey, plaintext: Readable, signal: AbortSignal): Promise<Uint8Array | AsyncIterable<Uint8Array>> {
    const input = await readPlaintext(plaintext);
    const { id: keyId, bytes } = keyRef(key);
    const { slot, job } = await this.acquire(signal);
    if (slot.dead || signal.aborted) {
      this.release(slot, job);
      throw signal.aborted ? signal.reason : new Error('the encryption worker stopped');
    }
    if (input.whole) {
      const data = movableCopy(input.chunks.splice(0), input.size);
      return new Promise<Uint8Array>((resolve, reject) => {
        const finish = (err: Error | null, out?: Uint8Array) => {
          this.release(slot, job);
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(out!);
        };
        const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        signal.addEventListener('abort', onAbort, { once: true });
        slot.jobs.set(job, {
          onMessage: (m) => {
            if (m.type === 'done' && m.data) finish(null, m.data);
            else if (m.type === 'error') finish(new Error(m.message));
          },
          fail: (err) => finish(err),
        });
        this.post(slot, { type: 'whole', job, keyId, key: bytes, data }, [data.buffer]);
      });
    }
    const streamed = new StreamedJob({
      send: (m, transfer) => this.post(slot, { ...m, job } as ToWorker, transfer),
      finished: () => this.release(slot, job),
      signal,
    });
    slot.jobs.set(job, streamed);
    this.post(slot, { type: 'open', job, keyId, key: bytes });
    void streamed.pump(streamedChunks(input), STREAM_BLOCK, STREAM_WINDOW);
    return streamed;
  }

  /** Stops every worker; jobs still running or waiting reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('the encryption pool is shutting down');
    for (const w of this.waiting.splice(0)) w.reject(err);
    const stopping: Array<Promise<number>> = [];
    for (const slot of this.slots) {
      if (!slot) continue;
      for (const sink of [...slot.jobs.values()]) sink.fail(err);
      stopping.push(slot.worker.terminate());
    }
    await Promise.all(stopping);
  }

  private post(slot: Slot, m: ToWorker, transfer: ArrayBuffer[] = []): void {
    slot.worker.postMessage(m, transfer);
  }

  /** A place for one job in a worker, its id reserved there at once so that no worker takes more than its share. */
  private acquire(signal: AbortSignal): Promise<Reserved> {
    if (this.closed) return Promise.reject(new Error('the encryption pool is shutting down'));
    signal.throwIfAborted();
    const free = this.freeSlot();
    if (free && this.waiting.length === 0) return Promise.resolve(this.reserve(free));
    if (this.waiting.length >= WAITING_MAX) return Promise.reject(new DeliveryError(451, '4.3.2 Too busy, please try again later'));
    return new Promise<Reserved>((resolve, reject) => {
      const entry: Waiter = {
        take: (slot) => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.reserve(slot));
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private reserve(slot: Slot): Reserved {
    const job = this.nextJob++;
    slot.jobs.set(job, { onMessage: () => undefined, fail: () => undefined });
    return { slot, job };
  }

  /** The ready worker with the fewest jobs, if one has room. */
  private freeSlot(): Slot | null {
    let best: Slot | null = null;
    for (const s of this.slots) {
      if (s?.ready && s.jobs.size < JOBS_PER_WORKER && (!best || s.jobs.size < best.jobs.size)) best = s;
    }
    return best;
  }

  private dispatch(): void {
    for (let slot = this.freeSlot(); slot && this.waiting.length > 0; slot = this.freeSlot()) this.waiting.shift()!.take(slot);
  }

  private release(slot: Slot, job: number): void {
    if (slot.jobs.delete(job)) this.dispatch();
  }

  private spawn(index: number): void {
    const startedAt = Date.now();
    const worker = startWorker();
    const slot: Slot = { worker, ready: false, dead: false, jobs: new Map() };
    this.slots[index] = slot;
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        slot.ready = true;
        this.dispatch();
      } else slot.jobs.get(m.job)?.onMessage(m);
    });
    worker.on('error', (err) => log.error({ err: err.message }, 'encryption worker failed'));
    worker.on('exit', (code) => {
      if (this.closed) return;
      log.error({ code, jobs: slot.jobs.size }, 'encryption worker stopped; starting another');
      this.slots[index] = null;
      slot.dead = true;
      const err = new Error('the encryption worker stopped');
      for (const sink of [...slot.jobs.values()]) sink.fail(err);
      // Nothing can run while no worker is ready: the waiting jobs fail (451) rather than hang.
      if (!this.slots.some((s) => s?.ready)) for (const w of this.waiting.splice(0)) w.reject(err);
      const delay = slot.ready || Date.now() - startedAt > RESPAWN_DELAY_MS ? 0 : RESPAWN_DELAY_MS;
      setTimeout(() => this.closed || this.spawn(index), delay).unref();
    });
  }
}
