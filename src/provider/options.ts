// Options of the provider (`startProvider`) and their defaults. Production
// values are the defaults; tests pass small scrypt parameters and port 0.
import type { ScryptParams } from './accounts/password.js';
import type { CompactionPolicy } from './couchdb/compaction.js';

export interface LoginLimits {
  /** Failed logins allowed per address within the window. */
  perAddress: number;
  /** Failed logins allowed per client IP within the window. */
  perIp: number;
  windowMs: number;
}

export interface ProviderOptions {
  /** Provider state: the embedded CouchDB's databases live under `<dataDir>/couch`. */
  dataDir: string;
  /** Mail domains this provider is the final destination for. */
  domains: string[];
  /** Listen address of every service; default 127.0.0.1. */
  host?: string;
  /** HTTP API + key directory + WKD + sync gateway; default 0 (ephemeral). */
  httpPort?: number;
  /** Inbound SMTP (25 in production); default 0. */
  mxPort?: number;
  /** Authenticated submission (587 in production); default 0. */
  submissionPort?: number;
  /** External Apache CouchDB with admin credentials in the URL; default: the embedded server. */
  couchUrl?: string;
  /** Largest accepted message in bytes (RFC 1870 SIZE); default 50 MB. */
  maxMessageSize?: number;
  /** Smarthost for recipients outside `domains` (the only relay mode for now: no MX lookup). */
  relay?: { host: string; port: number; secure?: boolean; auth?: { user: string; pass: string } };
  /** Password verifier parameters; small in tests, memory-hard defaults otherwise. */
  scrypt?: Partial<ScryptParams>;
  /** Bearer token lifetime; default 30 days. */
  tokenTtlMs?: number;
  loginLimits?: Partial<LoginLimits>;
  /** Host name announced in SMTP greetings and Received: headers; default `mx.<first domain>`. */
  hostname?: string;
  /**
   * TLS with a private CA generated at first start under <dataDir>/tls: HTTPS
   * for the API/gateway, STARTTLS on MX (offered) and submission (required
   * before AUTH). Off by default for in-process loopback use; `hostnames`
   * default to the hostname, the domains, `host` and localhost.
   */
  tls?: boolean | { hostnames?: string[] };
  /**
   * Giving the disk space of deleted documents back: the embedded server's
   * databases (./couchdb/compaction.ts) or, with `couchUrl`, CouchDB's
   * _compact (./couchdb/external-compaction.ts). Default on; false: never.
   */
  compaction?: CompactionPolicy | false;
  /**
   * Worker threads that encrypt incoming mail (MX, and submission to local
   * users) off the event loop (./mx/encrypt-pool.ts); default 0: encryption
   * runs on the event loop. Measured on 2 shared cores (bench/provider-mx.ts
   * with SEALMAIL_BENCH_MX_WORKERS=1): the event loop's CPU per message
   * falls from ~2.1 to ~1.3 ms, but the process's total rises from ~3.8 to
   * ~4.5 ms (each message crosses threads twice; ~0.2 ms of it on the event
   * loop), so workers pay only where cores are to spare.
   */
  encryptionWorkers?: number;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 50 * 1024 * 1024;
export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;
export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAddress: 5, perIp: 30, windowMs: 15 * 60 * 1000 };
