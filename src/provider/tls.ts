// The provider's TLS material: a private CA generated at first start (kept
// under <dataDir>/tls, keys 0600) and a server certificate it signs for the
// provider's host names. Clients pin the CA by its SHA-256 fingerprint at
// account creation instead of trusting a public CA. The server certificate
// is reissued (same CA) when the host names change.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { logger } from '../util/log.js';

const log = logger('provider-tls');
const DAY = 24 * 3600 * 1000;

/** selfsigned, loaded only when a certificate is made: the provider (and the daemon embedding it) starts ~0.1 s sooner. */
const generateCertificate: typeof import('selfsigned').generate = async (...args) => (await import('selfsigned')).generate(...args);

export interface ProviderTls {
  key: string;
  /** Server certificate followed by the CA certificate (the chain to send). */
  cert: string;
  caCert: string;
  /** SHA-256 of the CA certificate, colon-separated uppercase hex (as `openssl x509 -fingerprint -sha256`). */
  caFingerprint: string;
}

function write(file: string, data: string, mode: number): void {
  fs.writeFileSync(file, data, { mode });
  fs.chmodSync(file, mode);
}

async function createCa(dir: string): Promise<{ key: string; cert: string }> {
  const ca = await generateCertificate([{ name: 'commonName', value: 'sealmail provider CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 20 * 365 * DAY),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  write(path.join(dir, 'ca.key'), ca.private, 0o600);
  write(path.join(dir, 'ca.pem'), ca.cert, 0o644);
  log.info('provider CA created');
  return { key: ca.private, cert: ca.cert };
}

async function issueServerCert(dir: string, ca: { key: string; cert: string }, hostnames: string[]): Promise<void> {
  const altNames = hostnames.map((h) => (net.isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h }));
  const server = await generateCertificate([{ name: 'commonName', value: hostnames[0]! }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 825 * DAY),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  write(path.join(dir, 'server.key'), server.private, 0o600);
  write(path.join(dir, 'server.pem'), server.cert, 0o644);
  write(path.join(dir, 'server.json'), JSON.stringify({ hostnames }), 0o644);
}

/** Loads the CA and server certificate from <dataDir>/tls, creating what is missing. */
export async function loadOrCreateTls(dataDir: string, hostnames: string[]): Promise<ProviderTls> {
  const dir = path.join(dataDir, 'tls');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKeyFile = path.join(dir, 'ca.key');
  const ca = fs.existsSync(caKeyFile)
    ? { key: fs.readFileSync(caKeyFile, 'utf8'), cert: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8') }
    : await createCa(dir);

  const wanted = [...new Set(hostnames)].sort();
  let current: string[] = [];
  try {
    current = (JSON.parse(fs.readFileSync(path.join(dir, 'server.json'), 'utf8')) as { hostnames: string[] }).hostnames;
  } catch {
    // first start
  }
  const serverPem = path.join(dir, 'server.pem');
  const expired = fs.existsSync(serverPem) && Date.parse(new crypto.X509Certificate(fs.readFileSync(serverPem)).validTo) < Date.now() + 30 * DAY;
  if (expired || JSON.stringify(current) !== JSON.stringify(wanted) || !fs.existsSync(serverPem)) {
    await issueServerCert(dir, ca, wanted);
    log.info({ hostnames: wanted }, 'provider server certificate issued');
  }
  const serverCert = fs.readFileSync(serverPem, 'utf8');
  return {
    key: fs.readFileSync(path.join(dir, 'server.key'), 'utf8'),
    cert: serverCert.trimEnd() + '\n' + ca.cert,
    caCert: ca.cert,
    caFingerprint: new crypto.X509Certificate(ca.cert).fingerprint256,
  };
}
