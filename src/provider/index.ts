// The sealmail provider: accounts, per-user sync gateway, key directory/WKD,
// MX that encrypts on arrival, and the submission relay. Embeddable in-process
// (the daemon's quickstart, tests) and wrapped by `sealmail provider start`.
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import fs from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { startEmbeddedCouch, type EmbeddedCouch } from './couchdb/embedded.js';
import { ExternalCompactor } from './couchdb/external-compaction.js';
import { CouchClient } from './store/couch-client.js';
import { Accounts } from './accounts/accounts.js';
import { Sessions } from './accounts/sessions.js';
import { LoginRateLimiter } from './accounts/rate-limit.js';
import { Authenticator } from './accounts/login.js';
import { DEFAULT_SCRYPT } from './accounts/password.js';
import { KeyDirectory } from './keys/directory.js';
import { createGateway } from './gateway/proxy.js';
import { createHttpApp } from './http/app.js';
import type { ProviderConfigInfo } from './http/api.js';
import { Deliverer } from './mx/deliver.js';
import { EncryptPool } from './mx/encrypt-pool.js';
import { startMx } from './mx/server.js';
import { startSubmission } from './submission/server.js';
import { DEFAULT_LOGIN_LIMITS, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_TOKEN_TTL_MS, type ProviderOptions } from './options.js';
import { loadOrCreateTls, type ProviderTls } from './tls.js';
import { logger } from '../util/log.js';

export type { ProviderOptions } from './options.js';
export type { ProviderConfigInfo } from './http/api.js';

export interface Provider {
  /** Base URL of the HTTP API / key directory / sync gateway, with a trailing slash. */
  httpUrl: string;
  mxPort: number;
  submissionPort: number;
  /** With `tls`: the CA certificate clients pin, and its SHA-256 fingerprint. */
  tls?: { caCert: string; caFingerprint: string };
  /** A compaction pass over the users' databases now, instead of at its next time (tests, admin tools). */
  compactNow(): Promise<void>;
  close(): Promise<void>;
}

const log = logger('provider');

async function listenHttp(server: http.Server | https.Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startProvider(opts: ProviderOptions): Promise<Provider> {
  if (opts.domains.length === 0) throw new Error('startProvider: at least one domain is required');
  const host = opts.host ?? '127.0.0.1';
  const domains = opts.domains.map((d) => d.toLowerCase());
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const cleanups: Array<() => Promise<void> | void> = [];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c();
  };

  try {
    let couchUrl = opts.couchUrl;
    let embedded: EmbeddedCouch | null = null;
    if (!couchUrl) {
      const started = await startEmbeddedCouch({
        dataDir: path.join(opts.dataDir, 'couch'),
        host: '127.0.0.1',
        ...(opts.compaction !== undefined ? { compaction: opts.compaction } : {}),
      });
      embedded = started;
      cleanups.push(() => started.close());
      couchUrl = started.url;
    }
    // With the embedded server, document writes (MX deliveries) go to it in-process.
    const couch = new CouchClient(couchUrl, embedded?.local);
    cleanups.push(() => couch.close());
    let compactNow: () => Promise<void> = async () => void (await embedded?.compactNow());
    if (!embedded && opts.compaction !== false) {
      const external = new ExternalCompactor(couch, opts.compaction);
      external.start();
      cleanups.push(() => external.stop());
      compactNow = () => external.runNow();
    }
    const accounts = await Accounts.open(couch, domains, { ...DEFAULT_SCRYPT, ...opts.scrypt });
    const sessions = await Sessions.open(couch, opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS);
    const keys = await KeyDirectory.open(couch);
    // Expired session records are removed at start and then hourly; shutdown
    // waits for a sweep in flight before the database goes away.
    let sweeping: Promise<void> = Promise.resolve();
    const sweep = () => {
      sweeping = sessions.sweepExpired().then(
        (n) => void (n > 0 && log.info({ removed: n }, 'expired sessions removed')),
        (err: Error) => log.warn({ err: err.message }, 'session sweep failed'),
      );
    };
    sweep();
    const sweeper = setInterval(sweep, 3600_000).unref();
    cleanups.push(() => {
      clearInterval(sweeper);
      return sweeping;
    });
    const auth = new Authenticator(accounts, sessions, new LoginRateLimiter({ ...DEFAULT_LOGIN_LIMITS, ...opts.loginLimits }));

    const hostname = opts.hostname ?? `mx.${domains[0]}`;
    let tls: ProviderTls | undefined;
    if (opts.tls) {
      const names = (typeof opts.tls === 'object' && opts.tls.hostnames) || [hostname, ...domains, host, 'localhost'].filter((h) => h !== '0.0.0.0' && h !== '::');
      tls = await loadOrCreateTls(opts.dataDir, names);
    }

    const maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    // Room for the largest incoming document (base64 of a maximal message) in one request.
    const gateway = createGateway(couch, accounts, sessions, {
      continuousFeeds: opts.couchUrl !== undefined,
      maxRequestBytes: Math.ceil(maxMessageSize * 1.4) + 16 * 1024 * 1024,
    });
    // Filled in once the SMTP services listen (their ports may be ephemeral).
    const config: ProviderConfigInfo = {
      domains,
      hostname,
      submission: { host, port: 0, starttls: tls !== undefined },
      mx: { host, port: 0 },
      caFingerprint: tls?.caFingerprint ?? null,
    };
    const app = createHttpApp(auth, keys, gateway, domains, () => config);
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, app) : http.createServer(app);
    // Long uploads and longpoll/continuous _changes must not be cut off.
    server.requestTimeout = 0;
    const sockets = new Set<Socket>();
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    const httpPort = await listenHttp(server, opts.httpPort ?? 0, host);
    cleanups.push(async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      gateway.close();
      for (const s of sockets) s.destroy();
      await closed;
    });

    const workers = opts.encryptionWorkers ?? 0;
    const pool = workers > 0 ? new EncryptPool(workers) : undefined;
    // Closed after the SMTP services (cleanups run in reverse).
    if (pool) cleanups.push(() => pool.close());
    const deliverer = new Deliverer(couch, accounts, keys, pool);
    const mx = await startMx({ host, port: opts.mxPort ?? 0, hostname, maxMessageSize, deliverer, tls });
    cleanups.push(() => mx.close());
    const submission = await startSubmission({
      host,
      port: opts.submissionPort ?? 0,
      hostname,
      maxMessageSize,
      deliverer,
      auth,
      relay: opts.relay,
      tls,
    });
    cleanups.push(() => submission.close());
    config.mx.port = mx.port;
    config.submission.port = submission.port;

    const urlHost = host.includes(':') ? `[${host}]` : host;
    const httpUrl = `${tls ? 'https' : 'http'}://${urlHost}:${httpPort}/`;
    log.info({ httpUrl, mxPort: mx.port, submissionPort: submission.port, domains, encryptionWorkers: workers }, 'provider started');
    let closing: Promise<void> | null = null;
    return {
      httpUrl,
      mxPort: mx.port,
      submissionPort: submission.port,
      ...(tls ? { tls: { caCert: tls.caCert, caFingerprint: tls.caFingerprint } } : {}),
      compactNow,
      close() {
        closing ??= closeAll().then(() => log.info('provider stopped'));
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
