// The daemon's configuration file ($XDG_CONFIG_HOME/sealmail/config.json).
// Loaded strictly: a broken file gives one clear sentence (ConfigError), never
// a stack trace, and never gets silently replaced.
import { readFileSync, existsSync } from 'node:fs';
import { writePrivateFile } from './paths.js';

export interface ListenConfig {
  host: string;
  port: number;
}

export interface AccountConfig {
  /** The mail address, e.g. alice@example.org. */
  address: string;
  /** Base URL of the provider's HTTP API. */
  providerUrl: string;
  /** Password the local mail client uses for IMAP/SMTP on this machine. */
  localPassword: string;
  /** Refuse to send to recipients without a usable key. */
  alwaysEncrypt: boolean;
  /** Where the passphrase comes from when not given interactively (mode 0600 checked). */
  passphraseFile?: string;
  /** An HKP keyserver (base URL, e.g. https://keys.openpgp.org), asked last in the key lookup chain; none by default. */
  keyserver?: string;
}

/** A smarthost the provider hands mail for other domains to (no MX lookup of its own). */
export interface RelayHostConfig {
  host: string;
  port: number;
  /** Implicit TLS (port 465 style); otherwise STARTTLS when the smarthost offers it. */
  secure?: boolean;
  auth?: { user: string; pass: string };
}

export interface EmbeddedProviderConfig {
  domain: string;
  host: string;
  httpPort: number;
  mxPort: number;
  submissionPort: number;
  /** Where mail to other domains goes; without it such recipients are refused (550). */
  relay?: RelayHostConfig;
}

/** Deleting the content of expunged messages (src/mail/store/blob-gc.ts), for every account of this daemon. */
export interface BlobGcConfig {
  /** Hours content stays after this device proposed its deletion (default 24): a window to undo with another device. */
  graceHours?: number;
  /** false: this device proposes and deletes no content; it still answers other devices' proposals (default true). */
  enabled?: boolean;
}

export interface SealmailConfig {
  version: 1;
  imap: ListenConfig;
  smtp: ListenConfig;
  blobGc?: BlobGcConfig;
  /** Present when this daemon runs its own provider in-process (the quickstart). */
  embeddedProvider?: EmbeddedProviderConfig;
  accounts: AccountConfig[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const DEFAULT_GRACE_HOURS = 24;
export const DEFAULT_IMAP: ListenConfig = { host: '127.0.0.1', port: 1984 };
export const DEFAULT_SMTP: ListenConfig = { host: '127.0.0.1', port: 2013 };

/** A port from the environment (SEALMAIL_IMAP_PORT ...), or the default. */
export function envPort(name: string, dflt: number, env: NodeJS.ProcessEnv = process.env): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name}=${v} is not a port number`);
  return n;
}

/**
 * A new configuration. SEALMAIL_IMAP_PORT / SEALMAIL_SMTP_PORT choose other
 * local ports when it is created (e.g. a second daemon on the same machine);
 * afterwards the file is what counts.
 */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): SealmailConfig {
  return {
    version: 1,
    imap: { ...DEFAULT_IMAP, port: envPort('SEALMAIL_IMAP_PORT', DEFAULT_IMAP.port, env) },
    smtp: { ...DEFAULT_SMTP, port: envPort('SEALMAIL_SMTP_PORT', DEFAULT_SMTP.port, env) },
    // Written out so a user finds the setting in the file (these are the defaults).
    blobGc: { graceHours: DEFAULT_GRACE_HOURS, enabled: true },
    accounts: [],
  };
}

/** SEALMAIL_PROVIDER_RELAY=smtp://[user:pass@]host:port (or smtps://, or host:port) for the embedded provider. */
export function parseRelayUrl(value: string): RelayHostConfig {
  const url = /^[a-z]+:\/\//i.test(value) ? value : `smtp://${value}`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`the relay ${value} is not smtp://[user:pass@]host:port`);
  }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') throw new ConfigError(`the relay ${value} must be an smtp:// or smtps:// URL`);
  if (!u.hostname || !u.port) throw new ConfigError(`the relay ${value} needs a host and a port`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port),
    ...(u.protocol === 'smtps:' ? { secure: true } : {}),
    ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
  };
}

/** HKP's registered port (draft-shaw-openpgp-hkp-00 §7), for hkp://HOST without one. */
const HKP_PORT = '11371';

/**
 * A keyserver's base URL as the lookup chain uses it (http or https, no query
 * or fragment: /pks/lookup is appended), or null when `value` is not one.
 * hkps://HOST and hkp://HOST, as GnuPG users write them, become https://HOST
 * and http://HOST:11371.
 */
export function keyserverUrl(value: string): string | null {
  let u: URL;
  let port: string | null = null;
  try {
    u = new URL(value.trim());
    // hkp: is not a special scheme, so an explicit :80 is still there to see.
    if (u.protocol === 'hkp:') port = u.port || HKP_PORT;
    u = new URL(value.trim().replace(/^hkps:\/\//i, 'https://').replace(/^hkp:\/\//i, 'http://'));
  } catch {
    return null;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname || u.search || u.hash) return null;
  if (port) u.port = port;
  return u.href.replace(/\/+$/, '');
}

export function loadConfig(file: string): SealmailConfig | null {
  if (!existsSync(file)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`the configuration file ${file} is not valid JSON (${(err as Error).message}); fix or remove it`);
  }
  return validateConfig(parsed, file);
}

export function saveConfig(file: string, config: SealmailConfig): void {
  writePrivateFile(file, JSON.stringify(config, null, 2) + '\n');
}

function validateConfig(value: unknown, file: string): SealmailConfig {
  const fail = (what: string): never => {
    throw new ConfigError(`the configuration file ${file} is invalid: ${what}`);
  };
  if (!isObject(value)) return fail('expected a JSON object');
  if (value.version !== 1) fail(`unsupported version ${JSON.stringify(value.version)} (expected 1)`);
  const listen = (v: unknown, name: string, dflt: ListenConfig): ListenConfig => {
    if (v === undefined) return { ...dflt };
    if (!isObject(v) || typeof v.host !== 'string' || !isPort(v.port)) return fail(`"${name}" needs a host string and a port 0-65535`);
    return { host: v.host, port: v.port as number };
  };
  if (!Array.isArray(value.accounts)) fail('"accounts" must be a list');
  const accounts = (value.accounts as unknown[]).map((a, i): AccountConfig => {
    if (!isObject(a)) return fail(`accounts[${i}] must be an object`);
    if (typeof a.address !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(a.address)) return fail(`accounts[${i}].address is not a mail address`);
    if (typeof a.providerUrl !== 'string' || !/^https?:\/\//.test(a.providerUrl)) return fail(`accounts[${i}].providerUrl must be an http(s) URL`);
    if (typeof a.localPassword !== 'string' || a.localPassword.length < 8) return fail(`accounts[${i}].localPassword must be a string of at least 8 characters`);
    if (a.passphraseFile !== undefined && typeof a.passphraseFile !== 'string') return fail(`accounts[${i}].passphraseFile must be a path`);
    if (a.keyserver !== undefined && (typeof a.keyserver !== 'string' || !/^https?:\/\//.test(a.keyserver))) return fail(`accounts[${i}].keyserver must be an http(s) URL`);
    return {
      address: a.address.toLowerCase(),
      providerUrl: a.providerUrl,
      localPassword: a.localPassword,
      alwaysEncrypt: a.alwaysEncrypt === true,
      ...(typeof a.passphraseFile === 'string' ? { passphraseFile: a.passphraseFile } : {}),
      ...(typeof a.keyserver === 'string' ? { keyserver: a.keyserver } : {}),
    };
  });
  let embeddedProvider: EmbeddedProviderConfig | undefined;
  if (value.embeddedProvider !== undefined) {
    const e = value.embeddedProvider;
    if (!isObject(e) || typeof e.domain !== 'string' || typeof e.host !== 'string' || !isPort(e.httpPort) || !isPort(e.mxPort) || !isPort(e.submissionPort)) {
      fail('"embeddedProvider" needs domain, host, httpPort, mxPort, submissionPort');
    } else {
      embeddedProvider = { domain: e.domain, host: e.host, httpPort: e.httpPort as number, mxPort: e.mxPort as number, submissionPort: e.submissionPort as number };
      if (e.relay !== undefined) embeddedProvider.relay = validateRelay(e.relay, fail);
    }
  }
  if (embeddedProvider) followEmbeddedProvider(accounts, embeddedProvider);
  const blobGc = value.blobGc === undefined ? undefined : validateBlobGc(value.blobGc, fail);
  return {
    version: 1,
    imap: listen(value.imap, 'imap', DEFAULT_IMAP),
    smtp: listen(value.smtp, 'smtp', DEFAULT_SMTP),
    ...(blobGc ? { blobGc } : {}),
    ...(embeddedProvider ? { embeddedProvider } : {}),
    accounts,
  };
}

/**
 * The quickstart's accounts live at the embedded provider: an account whose
 * providerUrl is on the embedded provider's host follows its httpPort, so
 * changing that one setting (its port was in use) is all it takes.
 */
function followEmbeddedProvider(accounts: AccountConfig[], e: EmbeddedProviderConfig): void {
  for (const a of accounts) {
    let url: URL;
    try {
      url = new URL(a.providerUrl);
    } catch {
      continue;
    }
    if (url.hostname !== e.host || url.port === String(e.httpPort)) continue;
    url.port = String(e.httpPort);
    a.providerUrl = url.href;
  }
}

function validateRelay(r: unknown, fail: (what: string) => never): RelayHostConfig {
  const bad = (): never => fail('"embeddedProvider.relay" needs host, port, optional secure and auth {user, pass}');
  if (!isObject(r) || typeof r.host !== 'string' || !isPort(r.port)) return bad();
  if (r.secure !== undefined && typeof r.secure !== 'boolean') return bad();
  if (r.auth !== undefined && (!isObject(r.auth) || typeof r.auth.user !== 'string' || typeof r.auth.pass !== 'string')) return bad();
  const auth = r.auth as { user: string; pass: string } | undefined;
  return { host: r.host, port: r.port as number, ...(r.secure ? { secure: true } : {}), ...(auth ? { auth: { user: auth.user, pass: auth.pass } } : {}) };
}

/** Ten years: anything longer is a typo (or means `"enabled": false`). */
const MAX_GRACE_HOURS = 10 * 365 * 24;

function validateBlobGc(b: unknown, fail: (what: string) => never): BlobGcConfig {
  if (!isObject(b)) return fail('"blobGc" must be an object like {"graceHours": 24, "enabled": true}');
  const unknown = Object.keys(b).filter((k) => k !== 'graceHours' && k !== 'enabled');
  if (unknown.length > 0) fail(`"blobGc" has no setting ${JSON.stringify(unknown[0])} (it has graceHours and enabled)`);
  const g = b.graceHours;
  if (g !== undefined && (typeof g !== 'number' || !Number.isFinite(g) || g < 0 || g > MAX_GRACE_HOURS)) {
    fail(`"blobGc.graceHours" must be a number of hours from 0 to ${MAX_GRACE_HOURS}`);
  }
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean') fail('"blobGc.enabled" must be true or false');
  return { ...(g !== undefined ? { graceHours: g as number } : {}), ...(b.enabled !== undefined ? { enabled: b.enabled as boolean } : {}) };
}

/** The blob GC settings of the configuration as BlobGc takes them. */
export function blobGcTiming(c: BlobGcConfig | undefined): { graceMs?: number; propose?: boolean } {
  return {
    ...(c?.graceHours !== undefined ? { graceMs: Math.round(c.graceHours * 3600_000) } : {}),
    ...(c?.enabled === false ? { propose: false } : {}),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPort(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}
