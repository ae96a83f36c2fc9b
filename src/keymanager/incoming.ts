// Decrypts the layer the provider's MX put on every incoming message (the raw
// message encrypted to our public key on arrival, DESIGN.md "Incoming" 1).
// The result is the message exactly as it reached the MX.
import type { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { toPrivate } from './pgpmime-build.js';

export class IncomingDecryptError extends Error {
  override name = 'IncomingDecryptError';
}

/**
 * Reads a binary (or armored) OpenPGP message and decrypts it with any of our
 * private keys. The keys are parsed once per armored text (keys.ts keeps them):
 * OpenPGP.js remembers a key's verified self-signatures on the parsed object,
 * so a fresh parse per message would verify them again each time.
 */
export async function decryptIncoming(ciphertext: Readable, privateArmored: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ciphertext) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  let message: openpgp.Message<Uint8Array | string>;
  try {
    const armored = data.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP MESSAGE-----');
    message = armored
      ? await openpgp.readMessage({ armoredMessage: data.toString('latin1') })
      : await openpgp.readMessage({ binaryMessage: new Uint8Array(data.buffer, data.byteOffset, data.length) });
  } catch (err) {
    throw new IncomingDecryptError(`not an OpenPGP message (${(err as Error).message})`);
  }
  const decryptionKeys = await Promise.all(privateArmored.map(toPrivate));
  try {
    const { data: plain } = await openpgp.decrypt({ message, decryptionKeys, format: 'binary' });
    const bytes = plain as Uint8Array;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    throw new IncomingDecryptError(`cannot decrypt with this account's keys (${(err as Error).message})`);
  }
}
