// Network key sources, in the order the lookup chain asks them: the
// provider's key directory, WKD (advanced, then direct), an HKP keyserver.
// Every base URL is configurable so tests run against local HTTP servers.
import { createHash } from 'node:crypto';
import { logger } from '../util/log.js';
import type { KeySource } from './types.js';

const log = logger('keymanager.lookup');

export interface ProviderDirectoryOptions {
  /** Base URL of the provider's HTTP API; keys at `{url}/keys/{address}`. */
  url: string;
  /** Bearer token for publishing our own key. */
  token?: string;
  /** Domains whose keys the directory is authoritative for (default: the account's domain). */
  domains?: string[];
}

export interface WkdOptions {
  /** Origin for the advanced method; default `https://openpgpkey.{domain}`. */
  advanced?: (domain: string) => string;
  /** Origin for the direct method; default `https://{domain}`. */
  direct?: (domain: string) => string;
}

export interface LookupOptions {
  provider?: ProviderDirectoryOptions;
  /** false disables WKD. */
  wkd?: WkdOptions | false;
  /** HKP keyserver base URL, e.g. `https://keys.openpgp.org`; off when absent. */
  hkp?: { url: string };
  /** Per-request timeout; default 5 s (lookups happen while the mail client waits at RCPT). */
  timeoutMs?: number;
}

export interface FoundKey {
  source: KeySource;
  data: string | Uint8Array;
  url: string;
}

// z-base-32 alphabet (RFC 6189 §5.1.6), as WKD requires.
const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

export function zbase32(data: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = ((acc << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ZBASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ZBASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** draft-koch-openpgp-webkey-service §3.1: z-base-32 of SHA-1 of the lower-cased local part. */
export function wkdHash(localPart: string): string {
  return zbase32(createHash('sha1').update(localPart.toLowerCase(), 'utf8').digest());
}

export function wkdUrls(address: string, opts: WkdOptions = {}): { advanced: string; direct: string } {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  const hash = wkdHash(local);
  const l = encodeURIComponent(local);
  const adv = (opts.advanced ?? ((d) => `https://openpgpkey.${d}`))(domain).replace(/\/+$/, '');
  const dir = (opts.direct ?? ((d) => `https://${d}`))(domain).replace(/\/+$/, '');
  return {
    advanced: `${adv}/.well-known/openpgpkey/${domain}/hu/${hash}?l=${l}`,
    direct: `${dir}/.well-known/openpgpkey/hu/${hash}?l=${l}`,
  };
}

async function get(url: string, timeoutMs: number, binary: boolean): Promise<string | Uint8Array | null> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (err) {
    log.debug({ url, err: (err as Error).message }, 'key source unreachable');
    return null;
  }
  if (res.status === 404 || res.status === 410) return null;
  if (!res.ok) {
    log.debug({ url, status: res.status }, 'key source answered an error');
    return null;
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length === 0) return null;
  return binary ? body : Buffer.from(body).toString('utf8');
}

export class KeySources {
  private readonly timeoutMs: number;
  private hkp: { url: string } | undefined;

  constructor(
    private readonly opts: LookupOptions,
    private readonly ownDomain: string,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.hkp = opts.hkp;
  }

  /** Another HKP keyserver from now on, or none (`sealmail account set --keyserver` in a running daemon). */
  setKeyserver(url: string | null): void {
    this.hkp = url ? { url } : undefined;
  }

  providerAuthoritativeFor(address: string): boolean {
    if (!this.opts.provider) return false;
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    const domains = this.opts.provider.domains ?? [this.ownDomain];
    return domains.map((d) => d.toLowerCase()).includes(domain);
  }

  /** Asks each network source in order; the first key found is returned. */
  async *candidates(address: string): AsyncIterable<FoundKey> {
    const p = this.opts.provider;
    if (p && this.providerAuthoritativeFor(address)) {
      const url = `${p.url.replace(/\/+$/, '')}/keys/${encodeURIComponent(address)}`;
      const data = await get(url, this.timeoutMs, false);
      if (data) yield { source: 'provider', data, url };
    }
    if (this.opts.wkd !== false) {
      const urls = wkdUrls(address, this.opts.wkd ?? {});
      for (const url of [urls.advanced, urls.direct]) {
        const data = await get(url, this.timeoutMs, true);
        if (data) {
          yield { source: 'wkd', data, url };
          break;
        }
      }
    }
    if (this.hkp) {
      const url = `${this.hkp.url.replace(/\/+$/, '')}/pks/lookup?op=get&options=mr&search=${encodeURIComponent(address)}`;
      const data = await get(url, this.timeoutMs, false);
      if (data) yield { source: 'hkp', data, url };
    }
  }

  /** Publishes our public key to the provider's directory (PUT with the bearer token). */
  async publish(address: string, armored: string): Promise<void> {
    const p = this.opts.provider;
    if (!p?.token) throw new Error('no provider directory configured for publishing');
    const url = `${p.url.replace(/\/+$/, '')}/keys/${encodeURIComponent(address)}`;
    const res = await fetch(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/pgp-keys' },
      body: armored,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`provider directory answered ${res.status}`);
  }
}
