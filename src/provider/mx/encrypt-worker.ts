// A worker thread of the MX's encryption pool (./encrypt-pool.ts): OpenPGP
// encryption of incoming messages off the provider's event loop. Holds
// plaintext only in memory, only for the job in flight (a streamed job: a
// few blocks), and never logs or reports message contents; an error is sent
// back as its message text and the pool answers the SMTP client 451.
import { parentPort } from 'node:worker_threads';
import * as openpgp from 'openpgp';
import { STREAM_BLOCK, STREAM_WINDOW, type FromWorker, type ToWorker } from './encrypt-protocol.js';

const port = parentPort!;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

// Parsed recipient keys by the pool's key id (a key re-read from the
// directory gets a new id), least recently used dropped first.
const KEY_CACHE_MAX = 512;
const keys = new Map<number, Promise<openpgp.PublicKey>>();

function keyFor(keyId: number, bytes: Uint8Array): Promise<openpgp.PublicKey> {
  let key = keys.get(keyId);
  if (key) keys.delete(keyId);
  else {
    key = openpgp.readKey({ binaryKey: bytes }) as Promise<openpgp.PublicKey>;
    key.catch(() => keys.delete(keyId));
  }
  keys.set(keyId, key);
  if (keys.size > KEY_CACHE_MAX) keys.delete(keys.keys().next().value!);
  return key;
}

/** An ArrayBuffer that can be moved to the pool: the array's own, or a copy when it is a view into something larger. */
function movable(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

interface StreamJob {
  input: Uint8Array[];
  ended: boolean;
  cancelled: boolean;
  /** `out` blocks the pool has room for. */
  credits: number;
  /** Who waits for input or credits (both may at once: openpgp reads ahead while a block waits to go out). */
  waiting: Array<() => void>;
}
const streams = new Map<number, StreamJob>();

function wake(s: StreamJob): void {
  for (const w of s.waiting.splice(0)) w();
}

async function encryptWhole(job: number, keyId: number, keyBytes: Uint8Array, data: Uint8Array): Promise<void> {
  try {
    const key = await keyFor(keyId, keyBytes);
    const message = await openpgp.createMessage({ binary: data });
    const out = movable((await openpgp.encrypt({ message, encryptionKeys: key, format: 'binary' })) as Uint8Array);
    post({ type: 'done', job, data: out }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    post({ type: 'error', job, message: (err as Error).message });
  }
}

async function encryptStream(job: number, keyId: number, keyBytes: Uint8Array): Promise<void> {
  const s: StreamJob = { input: [], ended: false, cancelled: false, credits: STREAM_WINDOW, waiting: [] };
  streams.set(job, s);
  const waitFor = async (ready: () => boolean) => {
    while (!ready() && !s.cancelled) await new Promise<void>((resolve) => s.waiting.push(resolve));
    if (s.cancelled) throw new Error('cancelled');
  };
  try {
    const key = await keyFor(keyId, keyBytes);
    // highWaterMark 0: a block is taken from the queue (and acknowledged)
    // only when the encryption asks for more.
    const plaintext = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          await waitFor(() => s.input.length > 0 || s.ended);
          const next = s.input.shift();
          if (!next) return controller.close();
          controller.enqueue(next);
          post({ type: 'ack', job });
        },
      },
      { highWaterMark: 0 },
    );
    const message = await openpgp.createMessage({ binary: plaintext });
    const encrypted = (await openpgp.encrypt({ message, encryptionKeys: key, format: 'binary' })) as unknown as ReadableStream<Uint8Array>;
    const reader = encrypted.getReader();
    // openpgp's output comes in pieces of any size: gathered into blocks.
    let block = new Uint8Array(STREAM_BLOCK);
    let fill = 0;
    const send = async () => {
      await waitFor(() => s.credits > 0);
      s.credits--;
      const out = fill === block.length ? block : block.slice(0, fill);
      post({ type: 'out', job, data: out }, [out.buffer as ArrayBuffer]);
      block = new Uint8Array(STREAM_BLOCK);
      fill = 0;
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (let at = 0; at < value.length; ) {
          const n = Math.min(value.length - at, block.length - fill);
          block.set(value.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === block.length) await send();
        }
      }
    } catch (err) {
      await reader.cancel().catch(() => undefined);
      throw err;
    }
    if (fill > 0) await send();
    post({ type: 'done', job });
  } catch (err) {
    if (!s.cancelled) post({ type: 'error', job, message: (err as Error).message });
  } finally {
    streams.delete(job);
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'whole':
      void encryptWhole(m.job, m.keyId, m.key, m.data);
      return;
    case 'open':
      void encryptStream(m.job, m.keyId, m.key);
      return;
  }
  const s = streams.get(m.job);
  if (!s) return; // finished or failed already
  if (m.type === 'chunk') s.input.push(m.data);
  else if (m.type === 'end') s.ended = true;
  else if (m.type === 'pull') s.credits++;
  else s.cancelled = true;
  wake(s);
});

post({ type: 'ready' });
