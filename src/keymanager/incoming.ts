// Decrypts the layer the provider's MX put on every incoming message (the raw
// message encrypted to our public key on arrival, DESIGN.md "Incoming" 1).
// The result is the message exactly as it reached the MX.
import type { Readable } from 'node:stream';
import * as openpgp from 'openpgp';

export class IncomingDecryptError extends Error {
  override name = 'IncomingDecryptError';
}

/** Reads a binary (or armored) OpenPGP message and decrypts it with any of our private keys. */
export async function decryptIncoming(ciphertext: Readable, privateArmored: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ciphertext) chunks.push(Buffer.from(chunk as Uint8Array));
  const data = Buffer.concat(chunks);
  let message: openpgp.Message<Uint8Array | string>;
  try {
    const armored = data.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP MESSAGE-----');
    message = armored
      ? await openpgp.readMessage({ armoredMessage: data.toString('latin1') })
      : await openpgp.readMessage({ binaryMessage: new Uint8Array(data.buffer, data.byteOffset, data.length) });
  } catch (err) {
    throw new IncomingDecryptError(`not an OpenPGP message (${(err as Error).message})`);
  }
  const decryptionKeys = await Promise.all(privateArmored.map((armoredKey) => openpgp.readPrivateKey({ armoredKey })));
  try {
    const { data: plain } = await openpgp.decrypt({ message, decryptionKeys, format: 'binary' });
    return Buffer.from(plain as Uint8Array);
  } catch (err) {
    throw new IncomingDecryptError(`cannot decrypt with this account's keys (${(err as Error).message})`);
  }
}
