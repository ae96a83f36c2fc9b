// Autocrypt Level 1: the header format (§2.1), peer state updates (§2.3),
// the recommendation (§2.4) and gossip (§2.6). Pure functions; the keymanager
// stores the state and the keys.
import type { AutocryptPeerState, AutocryptRecommendation } from './types.js';

export interface AutocryptHeader {
  addr: string;
  preferEncrypt: 'mutual' | 'nopreference';
  keydata: Uint8Array;
}

/**
 * Parses one Autocrypt (or Autocrypt-Gossip) header value. Returns null when
 * it is invalid: missing addr/keydata, or an unknown critical attribute
 * (names not starting with "_", §2.1.1).
 */
export function parseAutocryptHeader(value: string): AutocryptHeader | null {
  const attrs = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (attrs.has(name)) return null;
    attrs.set(name, part.slice(eq + 1).trim());
  }
  const addr = attrs.get('addr');
  const keydata = attrs.get('keydata');
  if (!addr || !keydata) return null;
  for (const name of attrs.keys()) {
    if (!['addr', 'keydata', 'prefer-encrypt'].includes(name) && !name.startsWith('_')) return null;
  }
  const bytes = Buffer.from(keydata.replace(/\s+/g, ''), 'base64');
  if (bytes.length === 0) return null;
  return {
    addr: addr.toLowerCase(),
    preferEncrypt: attrs.get('prefer-encrypt') === 'mutual' ? 'mutual' : 'nopreference',
    keydata: new Uint8Array(bytes),
  };
}

/** Renders a header value, keydata folded into 76-char lines for the header writer. */
export function formatAutocryptHeader(h: { addr: string; preferEncrypt?: 'mutual' | 'nopreference'; keydata: Uint8Array }): string {
  const pe = h.preferEncrypt === 'mutual' ? ' prefer-encrypt=mutual;' : '';
  const b64 = Buffer.from(h.keydata).toString('base64');
  const chunks: string[] = [];
  for (let i = 0; i < b64.length; i += 72) chunks.push(b64.slice(i, i + 72));
  return `addr=${h.addr};${pe} keydata=${chunks.join(' ')}`;
}

/** Renders a whole header field with CRLF folding (the value's spaces fall between keydata chunks). */
export function autocryptField(name: 'Autocrypt' | 'Autocrypt-Gossip', value: string): string {
  const [head, keydata] = value.split(' keydata=');
  const chunks = keydata.split(' ');
  return `${name}: ${head} keydata=\r\n ${chunks.join('\r\n ')}\r\n`;
}

/**
 * §2.3: update the peer state from one message. `header` is the sender's
 * valid Autocrypt header whose addr matches From (or null). Returns the new
 * state, or the old one when the message is older than what we know.
 */
export function updatePeerState(
  state: AutocryptPeerState | undefined,
  messageDate: Date,
  header: { fingerprint: string; preferEncrypt: 'mutual' | 'nopreference' } | null,
  now: Date,
): { state: AutocryptPeerState; keyAccepted: boolean } {
  // A date in the future counts as now.
  const effective = messageDate.getTime() > now.getTime() ? now : messageDate;
  const iso = effective.toISOString();
  if (state?.autocryptTimestamp && effective.getTime() <= Date.parse(state.autocryptTimestamp)) {
    return { state, keyAccepted: false };
  }
  if (!header) {
    const next: AutocryptPeerState = state ? { ...state } : { lastSeen: iso, preferEncrypt: 'nopreference' };
    if (!state || effective.getTime() > Date.parse(state.lastSeen)) next.lastSeen = iso;
    return { state: next, keyAccepted: false };
  }
  return {
    state: {
      ...(state ?? {}),
      lastSeen: iso,
      autocryptTimestamp: iso,
      fingerprint: header.fingerprint,
      preferEncrypt: header.preferEncrypt,
    },
    keyAccepted: true,
  };
}

/**
 * How far last_seen, autocrypt_timestamp or gossip_timestamp may run ahead of
 * what is stored before the peer state is written again. §2.4 compares these
 * only at the scale of days (autocrypt_timestamp more than 35 days older than
 * last_seen: discourage), and §2.3's "older than autocrypt_timestamp: no
 * change" only needs the timestamp of the latest key change, which is always
 * written: a message with another key or prefer-encrypt is. So the stored
 * dates may lag by up to a day (the 35-day rule fires up to a day late)
 * instead of costing a document write for every message received.
 */
export const PEER_STATE_DATE_STEP_MS = 24 * 3600 * 1000;

/** Whether `next` (from updatePeerState/updateGossipState) differs from the stored `stored` in anything worth a write. */
export function peerStateNeedsWrite(stored: AutocryptPeerState | undefined, next: AutocryptPeerState): boolean {
  if (!stored) return true;
  if (stored.fingerprint !== next.fingerprint || stored.preferEncrypt !== next.preferEncrypt || stored.gossipFingerprint !== next.gossipFingerprint) {
    return true;
  }
  const advanced = (before: string | undefined, after: string | undefined): boolean =>
    after !== undefined && (before === undefined || Date.parse(after) - Date.parse(before) >= PEER_STATE_DATE_STEP_MS);
  return advanced(stored.lastSeen, next.lastSeen) || advanced(stored.autocryptTimestamp, next.autocryptTimestamp) || advanced(stored.gossipTimestamp, next.gossipTimestamp);
}

/** §2.6: gossip only updates gossip state, and only when newer. */
export function updateGossipState(
  state: AutocryptPeerState | undefined,
  messageDate: Date,
  fingerprint: string,
  now: Date,
): { state: AutocryptPeerState; keyAccepted: boolean } {
  const effective = messageDate.getTime() > now.getTime() ? now : messageDate;
  if (state?.gossipTimestamp && effective.getTime() <= Date.parse(state.gossipTimestamp)) return { state, keyAccepted: false };
  const base: AutocryptPeerState = state ?? { lastSeen: effective.toISOString(), preferEncrypt: 'nopreference' };
  return { state: { ...base, gossipTimestamp: effective.toISOString(), gossipFingerprint: fingerprint }, keyAccepted: true };
}

const DAYS_35 = 35 * 24 * 3600 * 1000;

/**
 * §2.4: the recommendation for one recipient. `keyUsable` says whether the
 * Autocrypt (or gossip) key is usable for encryption right now.
 */
export function recommend(
  state: AutocryptPeerState | undefined,
  opts: { ownPreferEncrypt: 'mutual' | 'nopreference'; autocryptKeyUsable: boolean; gossipKeyUsable: boolean; replyToEncrypted?: boolean },
): AutocryptRecommendation {
  if (!state) return 'disable';
  let pre: AutocryptRecommendation;
  if (state.fingerprint && opts.autocryptKeyUsable) {
    const stale = state.autocryptTimestamp && Date.parse(state.lastSeen) - Date.parse(state.autocryptTimestamp) > DAYS_35;
    pre = stale ? 'discourage' : 'available';
  } else if (state.gossipFingerprint && opts.gossipKeyUsable) {
    pre = 'discourage';
  } else {
    return 'disable';
  }
  if (pre === 'available' && opts.ownPreferEncrypt === 'mutual' && state.preferEncrypt === 'mutual') return 'encrypt';
  if (opts.replyToEncrypted) return 'encrypt';
  return pre;
}
