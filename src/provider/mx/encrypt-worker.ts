// One encryption worker of ./encrypt-pool.ts: binary OpenPGP encryption of a
// whole message to one public key. Parsed keys are cached by fingerprint
// (a handful of recipients receive most mail).
import { parentPort } from 'node:worker_threads';
import * as openpgp from 'openpgp';

const keys = new Map<string, openpgp.PublicKey>();
const MAX_KEYS = 256;

async function keyFor(binary: Uint8Array, fingerprint: string): Promise<openpgp.PublicKey> {
  let key = keys.get(fingerprint);
  if (!key) {
    key = await openpgp.readKey({ binaryKey: binary });
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value as string);
    keys.set(fingerprint, key);
  }
  return key;
}

parentPort?.on('message', (m: { id: number; plaintext: Uint8Array; key: Uint8Array; fingerprint: string }) => {
  void (async () => {
    try {
      const encryptionKeys = await keyFor(m.key, m.fingerprint);
      const message = await openpgp.createMessage({ binary: m.plaintext });
      const ciphertext = await openpgp.encrypt({ message, encryptionKeys, format: 'binary' });
      parentPort?.postMessage({ id: m.id, ciphertext }, [ciphertext.buffer as ArrayBuffer]);
    } catch (err) {
      parentPort?.postMessage({ id: m.id, error: (err as Error).message });
    }
  })();
});
