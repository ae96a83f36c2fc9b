// Messages between the MX's encryption pool (./encrypt-pool.ts, event loop)
// and its worker threads (./encrypt-worker.ts). Byte arrays travel as
// transferred ArrayBuffers (moved, not copied). A job is either one whole
// plaintext (small messages) or a stream: `open`, `chunk`s, `end`, with
// credit-based flow control both ways so neither side holds more than a few
// chunks of a large message.

/** Plaintext and ciphertext cross in blocks of about this size. */
export const STREAM_BLOCK = 256 * 1024;
/** Unacknowledged blocks in flight per streamed job, each way. */
export const STREAM_WINDOW = 2;

export type ToWorker =
  /** `keyId` names `key` (binary transferable public key) in the worker's parse cache. */
  | { type: 'whole'; job: number; keyId: number; key: Uint8Array; data: Uint8Array }
  | { type: 'open'; job: number; keyId: number; key: Uint8Array }
  | { type: 'chunk'; job: number; data: Uint8Array }
  | { type: 'end'; job: number }
  /** The pool consumed one `out` block: room for another. */
  | { type: 'pull'; job: number }
  | { type: 'cancel'; job: number };

export type FromWorker =
  | { type: 'ready' }
  /** The ciphertext of a `whole` job, or (without data) the end of a streamed one. */
  | { type: 'done'; job: number; data?: Uint8Array }
  | { type: 'out'; job: number; data: Uint8Array }
  /** One `chunk` was taken by the encryption: room for another. */
  | { type: 'ack'; job: number }
  | { type: 'error'; job: number; message: string };
