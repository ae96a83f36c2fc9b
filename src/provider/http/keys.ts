// Key directory over HTTP: GET /keys/{address} (public), PUT /keys/{address}
// (the owner only, with a bearer token), and the Web Key Directory
// (draft-koch-openpgp-webkey-service §3.1: direct and advanced methods, and
// the policy file of §4.5).
import express, { type Request, type Response } from 'express';
import { parseAddress } from '../accounts/address.js';
import type { Accounts } from '../accounts/accounts.js';
import type { Sessions } from '../accounts/sessions.js';
import { KeyValidationError, armoredToBinary } from '../keys/pgp.js';
import type { KeyDirectory } from '../keys/directory.js';
import { wkdHash } from '../keys/wkd.js';
import { logger } from '../../util/log.js';
import { authenticate, WWW_AUTHENTICATE } from './auth.js';
import { asyncRoute, sendError } from './errors.js';

const log = logger('provider-keys');

export function keysRouter(keys: KeyDirectory, sessions: Sessions, accounts: Accounts): express.Router {
  const router = express.Router();

  router.get('/:address', asyncRoute(async (req: Request, res: Response) => {
    const parsed = parseAddress(req.params.address);
    if (!parsed) return sendError(res, 400, 'bad_request', 'not a mail address');
    const doc = await keys.get(parsed.address);
    if (!doc) return sendError(res, 404, 'not_found', 'no key for that address');
    res.type('application/pgp-keys').send(doc.armored);
  }));

  router.put('/:address', express.text({ type: () => true, limit: '256kb' }), asyncRoute(async (req: Request, res: Response) => {
    const parsed = parseAddress(req.params.address);
    if (!parsed) return sendError(res, 400, 'bad_request', 'not a mail address');
    const who = await authenticate(req.headers, sessions);
    if (!who) return sendError(res, 401, 'unauthorized', 'a valid bearer token is required', { 'www-authenticate': WWW_AUTHENTICATE });
    if (who !== parsed.address) return sendError(res, 403, 'forbidden', 'you may only publish your own key');
    if (!(await accounts.find(parsed.address))) return sendError(res, 404, 'not_found', 'no such account');
    if (typeof req.body !== 'string' || req.body.length === 0) return sendError(res, 400, 'bad_request', 'body must be an armored public key');
    try {
      const doc = await keys.put(parsed.address, req.body);
      log.info({ fingerprint: doc.fingerprint }, 'key published');
      res.status(200).json({ ok: true, fingerprint: doc.fingerprint });
    } catch (err) {
      if (err instanceof KeyValidationError) return sendError(res, 400, 'invalid_key', err.message);
      log.error({ err: (err as Error).message }, 'key publication failed');
      sendError(res, 500, 'internal', 'could not store the key');
    }
  }));

  return router;
}

export function wkdRouter(keys: KeyDirectory, domains: string[]): express.Router {
  const router = express.Router();
  const ours = new Set(domains.map((d) => d.toLowerCase()));

  // §4.5: the policy file may be empty; its presence signals WKD support.
  const policy = (_req: Request, res: Response) => {
    res.type('text/plain').set('access-control-allow-origin', '*').send('');
  };

  async function serveKey(res: Response, domain: string | undefined, hash: string, local: unknown): Promise<void> {
    // §3.1: when ?l= is given it must hash to the requested name.
    if (typeof local === 'string' && wkdHash(local) !== hash) return sendError(res, 404, 'not_found', 'no key');
    const doc = domain && ours.has(domain) ? await keys.getByHash(domain, hash) : null;
    if (!doc) return sendError(res, 404, 'not_found', 'no key');
    res.type('application/octet-stream').set('access-control-allow-origin', '*').send(Buffer.from(await armoredToBinary(doc.armored)));
  }

  // Direct method: the domain is the host the request was sent to. A provider
  // serving one domain (or reached by IP in tests) answers for its only domain.
  function directDomain(req: Request): string | undefined {
    const host = req.hostname?.toLowerCase();
    if (host && ours.has(host)) return host;
    return ours.size === 1 ? [...ours][0] : undefined;
  }

  router.get('/policy', policy);
  router.get('/hu/:hash', asyncRoute((req, res) => serveKey(res, directDomain(req), req.params.hash!, req.query.l)));
  router.get('/:domain/policy', (req, res) => (ours.has(req.params.domain!.toLowerCase()) ? policy(req, res) : sendError(res, 404, 'not_found', 'unknown domain')));
  router.get('/:domain/hu/:hash', asyncRoute((req, res) => serveKey(res, req.params.domain!.toLowerCase(), req.params.hash!, req.query.l)));
  return router;
}
