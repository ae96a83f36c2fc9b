// The daemon's self-signed certificate for STARTTLS on localhost IMAP/SMTP.
// Generated once (EC P-256, 10 years, SAN localhost/127.0.0.1/::1) and kept
// 0600 in the config dir; its SHA-256 fingerprint is shown by `sealmail
// status` so the user can check what Thunderbird asks them to accept.
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { writePrivateFile } from './paths.js';

export interface TlsMaterial {
  key: string;
  cert: string;
  /** SHA-256 fingerprint, colon-separated hex (as browsers and Thunderbird show it). */
  fingerprint: string;
}

export async function loadOrCreateCertificate(configDir: string): Promise<TlsMaterial> {
  const keyFile = join(configDir, 'tls', 'key.pem');
  const certFile = join(configDir, 'tls', 'cert.pem');
  if (!existsSync(keyFile) || !existsSync(certFile)) {
    // Loaded only when a certificate is made (once): ~0.1 s of every start otherwise.
    const { generate } = await import('selfsigned');
    const notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000);
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    });
    writePrivateFile(keyFile, pems.private);
    writePrivateFile(certFile, pems.cert);
  }
  const key = readFileSync(keyFile, 'utf8');
  const cert = readFileSync(certFile, 'utf8');
  return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256 };
}
