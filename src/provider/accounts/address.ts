// Address handling shared by the API, the key directory, the MX and the
// submission server. Addresses are compared case-insensitively (lowercased):
// RFC 5321 §2.4 leaves local-part case to the receiving host, and WKD hashes
// the lowercased local part anyway.

// RFC 5322 §3.4.1 dot-atom local part (no quoted strings: we never hand those out).
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

export interface ParsedAddress {
  address: string;
  local: string;
  domain: string;
}

/** Lowercases and validates `local@domain`; null when it is not a plain address. */
export function parseAddress(input: unknown): ParsedAddress | null {
  if (typeof input !== 'string' || input.length > 254) return null;
  const address = input.trim().toLowerCase();
  const at = address.lastIndexOf('@');
  if (at <= 0) return null;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local) || !DOMAIN.test(domain)) return null;
  return { address, local, domain };
}
