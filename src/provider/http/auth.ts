// Request authentication for the key directory and the sync gateway:
// `Authorization: Bearer <token>`, or Basic with address:token for CouchDB
// clients that only know Basic auth (e.g. a replication URL with userinfo).
import type { IncomingHttpHeaders } from 'node:http';
import type { Sessions } from '../accounts/sessions.js';

/** The authenticated address, or null (missing, malformed, unknown or expired credentials). */
export async function authenticate(headers: IncomingHttpHeaders, sessions: Sessions): Promise<string | null> {
  const header = headers.authorization;
  if (!header) return null;
  const space = header.indexOf(' ');
  if (space < 0) return null;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return sessions.verify(value);
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.lastIndexOf(':');
    if (colon < 0) return null;
    const address = await sessions.verify(decoded.slice(colon + 1));
    return address !== null && address === decoded.slice(0, colon).toLowerCase() ? address : null;
  }
  return null;
}

export const WWW_AUTHENTICATE = 'Bearer realm="sealmail", Basic realm="sealmail"';
