// Worker threads that OpenPGP-encrypt incoming messages for the MX, so a
// provider on a multi-core machine encrypts on every core while the event
// loop keeps speaking SMTP and writing documents. Only whole messages up to
// the deliverer's buffered limit go to a worker (the plaintext buffer is
// transferred, not copied); larger ones stream in the event-loop thread.
// Plaintext never leaves the process: workers share its memory space.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { logger } from '../../util/log.js';

const log = logger('mx-encrypt-pool');

interface Job {
  id: number;
  resolve(ciphertext: Uint8Array): void;
  reject(err: Error): void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, Job>;
}

/** The default for a standalone provider: one thread per core but one (for the event loop), at most 4. */
export function defaultEncryptThreads(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 1));
}

// Compiled, the worker is the .js beside this file. Run from TypeScript
// sources (tsx), it is the .ts file, and a worker thread does not get tsx's
// loader by itself: a small bootstrap registers it first.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './encrypt-worker.ts' : './encrypt-worker.js', import.meta.url);

function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

export class EncryptPool {
  private readonly workers: PoolWorker[] = [];
  private nextJob = 1;
  private closed = false;

  constructor(private readonly size: number) {}

  get threads(): number {
    return this.size;
  }

  /** Encrypts `plaintext` (its buffer is transferred: the caller must not use it afterwards) to the binary public key. */
  encrypt(plaintext: Uint8Array, recipientKey: Uint8Array, fingerprint: string): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('encryption pool closed'));
    const target = this.pick();
    const id = this.nextJob++;
    return new Promise<Uint8Array>((resolve, reject) => {
      target.jobs.set(id, { id, resolve, reject });
      // A Buffer may be a view into Node's shared pool: copy it into its own
      // ArrayBuffer before transferring.
      const own = plaintext.byteOffset === 0 && plaintext.byteLength === plaintext.buffer.byteLength ? plaintext : plaintext.slice();
      target.worker.postMessage({ id, plaintext: own, key: recipientKey, fingerprint }, [own.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.splice(0).map((w) => w.worker.terminate()));
  }

  /** Lazily starts workers; picks the one with the fewest jobs in flight. */
  private pick(): PoolWorker {
    if (this.workers.length < this.size && this.workers.every((w) => w.jobs.size > 0)) this.workers.push(this.spawn());
    return this.workers.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
  }

  private spawn(): PoolWorker {
    const worker = startWorker();
    worker.unref();
    const entry: PoolWorker = { worker, jobs: new Map() };
    worker.on('message', (m: { id: number; ciphertext?: Uint8Array; error?: string }) => {
      const job = entry.jobs.get(m.id);
      if (!job) return;
      entry.jobs.delete(m.id);
      if (m.ciphertext) job.resolve(m.ciphertext);
      else job.reject(new Error(m.error ?? 'encryption failed'));
    });
    const fail = (err: Error) => {
      const i = this.workers.indexOf(entry);
      if (i >= 0) this.workers.splice(i, 1);
      for (const job of entry.jobs.values()) job.reject(err);
      entry.jobs.clear();
      if (!this.closed) log.error({ err: err.message }, 'encryption worker failed; a new one starts with the next message');
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`encryption worker exited (${code})`)));
    return entry;
  }
}
