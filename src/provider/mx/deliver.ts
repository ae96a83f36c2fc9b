// Delivery into a user's database, shared by the MX and the submission
// server for local recipients: the raw message (after a per-recipient
// Received: header) is encrypted with OpenPGP to the recipient's public key,
// binary (in one call up to 256 KB, streaming above; on the worker threads of
// ./encrypt-pool.ts when the provider has them), and stored as an
// *incoming* document (format: src/soledad/types.ts IncomingDoc) in one
// write (CouchClient.createDocWithAttachment: in-process into the embedded
// server, else raw bytes in a multipart PUT, else streamed base64).
// Plaintext exists only in memory, in bounded chunks; on any failure no document is left behind (those already written
// for other recipients are removed) and the caller answers 451.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import type { Accounts } from '../accounts/accounts.js';
import type { KeyDirectory } from '../keys/directory.js';
import { parseAddress } from '../accounts/address.js';
import type { CouchClient } from '../store/couch-client.js';
import { INCOMING_ATTACHMENT, INCOMING_PREFIX } from '../../soledad/types.js';
import { logger } from '../../util/log.js';
import { DeliveryError } from './errors.js';
import { fanOut } from './fanout.js';
import type { EncryptPool } from './encrypt-pool.js';
import { readPlaintext, streamedChunks } from './plaintext.js';

const log = logger('mx-deliver');

export interface LocalRecipient {
  address: string;
  db: string;
  key: openpgp.PublicKey;
}

export interface DeliveryRequest {
  source: Readable;
  recipients: LocalRecipient[];
  maxSize: number;
  /** The Received: header field (with CRLF) to prepend for one recipient. */
  received(recipient: LocalRecipient): string;
  /** Extra consumers of the same plaintext (the submission relay). */
  extraBranches?: number;
  onExtraBranches?(branches: Readable[], signal: AbortSignal): Promise<void>;
  /** Bytes prepended to every extra branch (e.g. a Received: field without a `for` clause). */
  extraPrefix?(): Buffer;
}

/**
 * The ciphertext of one recipient's copy, encrypted here on the event loop
 * (without an encryption pool): whole when the plaintext was small, else a
 * stream. Its own function so that nothing here (the gathered plaintext,
 * openpgp's message object) stays referenced while the caller waits for the
 * database write: buffers that outlive a young-generation GC are promoted
 * and then cost full mark-compacts to free.
 */
async function encryptHere(key: openpgp.PublicKey, plaintext: Readable): Promise<Uint8Array | AsyncIterable<Uint8Array>> {
  const input = await readPlaintext(plaintext);
  const binary = input.whole ? Buffer.concat(input.chunks, input.size) : (Readable.toWeb(Readable.from(streamedChunks(input))) as ReadableStream<Uint8Array>);
  const message = await openpgp.createMessage({ binary });
  const encrypted = await openpgp.encrypt({ message, encryptionKeys: key, format: 'binary' });
  return encrypted instanceof Uint8Array ? encrypted : (encrypted as AsyncIterable<Uint8Array>);
}

export class Deliverer {
  constructor(
    private readonly couch: CouchClient,
    private readonly accounts: Accounts,
    private readonly keys: KeyDirectory,
    /** Worker threads that encrypt; without, encryption runs on the event loop. */
    private readonly pool?: EncryptPool,
  ) {}

  isLocal(address: string): boolean {
    const parsed = parseAddress(address);
    return parsed !== null && this.accounts.isLocalDomain(parsed.domain);
  }

  /** RCPT TO for a local address: 550 unknown user, 451 user without a key (RFC 5321 §4.2.2). */
  async resolve(address: string): Promise<LocalRecipient> {
    const parsed = parseAddress(address);
    const account = parsed ? await this.accounts.find(parsed.address) : null;
    if (!parsed || !account) throw new DeliveryError(550, '5.1.1 No such user here');
    const key = await this.keys.encryptionKey(parsed.address);
    if (!key) throw new DeliveryError(451, '4.7.1 Recipient has no encryption key yet, try again later');
    return { address: parsed.address, db: account.db, key };
  }

  /** Encrypts and stores one incoming document per recipient. Returns the document ids. */
  async deliver(req: DeliveryRequest): Promise<string[]> {
    const controller = new AbortController();
    const { signal } = controller;
    const extra = req.extraBranches ?? 0;
    const fan = fanOut(req.source, req.recipients.length + extra, req.maxSize, signal, (i) =>
      i < req.recipients.length ? Buffer.from(req.received(req.recipients[i]!)) : (req.extraPrefix?.() ?? null),
    );
    const stored: Array<{ db: string; id: string; rev: string }> = [];
    const receivedAt = new Date().toISOString();

    const storeOne = async (recipient: LocalRecipient, plaintext: Readable): Promise<void> => {
      const data = this.pool ? await this.pool.encrypt(recipient.key, plaintext, signal) : await encryptHere(recipient.key, plaintext);
      const id = INCOMING_PREFIX + crypto.randomUUID();
      const doc = { _id: id, sealmail: 'incoming', v: 1, receivedAt };
      const rev = await this.couch.createDocWithAttachment(recipient.db, doc, { name: INCOMING_ATTACHMENT, contentType: 'application/pgp-encrypted', data }, signal);
      stored.push({ db: recipient.db, id, rev });
    };

    const work = [
      ...req.recipients.map((r, i) => storeOne(r, fan.branches[i]!)),
      ...(extra > 0 && req.onExtraBranches ? [req.onExtraBranches(fan.branches.slice(req.recipients.length), signal)] : []),
    ].map((p) =>
      p.catch((err: unknown) => {
        controller.abort(err);
        throw err;
      }),
    );
    const results = await Promise.allSettled([fan.done, ...work]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return stored.map((s) => s.id);

    await this.rollback(stored);
    // The fan-out's own error (e.g. 552 size) explains the failure best.
    const first = results[0]!.status === 'rejected' ? (results[0] as PromiseRejectedResult).reason : failed.reason;
    if (!(first instanceof DeliveryError)) log.warn({ err: (first as Error)?.message }, 'delivery failed, nothing stored');
    throw first;
  }

  private async rollback(stored: Array<{ db: string; id: string; rev: string }>): Promise<void> {
    for (const s of stored) {
      try {
        await this.couch.deleteDoc(s.db, s.id, s.rev);
      } catch (err) {
        log.error({ err: (err as Error).message, id: s.id }, 'could not remove a partially delivered document');
      }
    }
  }
}
