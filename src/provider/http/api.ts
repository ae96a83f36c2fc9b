// Account API: registration and login (password → bearer token + the URL of
// the user's database at the sync gateway). Bodies are validated strictly:
// exactly the expected string fields, bounded lengths.
import express, { type Request, type Response } from 'express';
import { AccountError } from '../accounts/accounts.js';
import type { Authenticator } from '../accounts/login.js';
import { parseAddress } from '../accounts/address.js';
import { logger } from '../../util/log.js';
import { asyncRoute, sendError } from './errors.js';
import { WWW_AUTHENTICATE } from './auth.js';

const log = logger('provider-api');

interface Credentials {
  address: string;
  password: string;
}

function readCredentials(body: unknown, minPassword: number): Credentials | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object';
  const keys = Object.keys(body);
  if (keys.length !== 2 || !keys.includes('address') || !keys.includes('password')) return 'body must have exactly "address" and "password"';
  const { address, password } = body as Record<string, unknown>;
  if (typeof address !== 'string' || !parseAddress(address)) return '"address" must be a mail address';
  if (typeof password !== 'string' || password.length < minPassword || password.length > 4096) {
    return `"password" must be a string of ${minPassword} to 4096 characters`;
  }
  return { address, password };
}

export function gatewayDbUrl(req: Request, db: string): string {
  return `${req.protocol}://${req.get('host')}/${db}`;
}

/** Service discovery for clients (`GET /api/config`): where to submit mail, which domains, which CA. */
export interface ProviderConfigInfo {
  domains: string[];
  hostname: string;
  submission: { host: string; port: number; starttls: boolean };
  mx: { host: string; port: number };
  /** SHA-256 fingerprint of the provider CA to pin, or null without TLS. */
  caFingerprint: string | null;
}

export function accountsRouter(auth: Authenticator, config: () => ProviderConfigInfo): express.Router {
  const router = express.Router();
  router.get('/config', (_req: Request, res: Response) => void res.json(config()));
  router.use(express.json({ limit: '16kb', strict: true }));

  router.post('/accounts', async (req: Request, res: Response) => {
    const creds = readCredentials(req.body, 8);
    if (typeof creds === 'string') return sendError(res, 400, 'bad_request', creds);
    try {
      const account = await auth.accounts.register(creds.address, creds.password);
      log.info({ db: account.db }, 'account registered');
      res.status(201).json({ address: account.address });
    } catch (err) {
      if (err instanceof AccountError) return sendError(res, err.status, err.code, err.message);
      log.error({ err: (err as Error).message }, 'registration failed');
      sendError(res, 500, 'internal', 'registration failed');
    }
  });

  router.post('/sessions', async (req: Request, res: Response) => {
    const creds = readCredentials(req.body, 1);
    if (typeof creds === 'string') return sendError(res, 400, 'bad_request', creds);
    try {
      const result = await auth.login(creds.address, creds.password, req.socket.remoteAddress ?? 'unknown');
      if (!result.ok) {
        if (result.retryAfter > 0) {
          return sendError(res, 429, 'too_many_attempts', `too many failed logins; retry in ${result.retryAfter} s`, {
            'retry-after': String(result.retryAfter),
          });
        }
        return sendError(res, 401, 'unauthorized', 'wrong address or password');
      }
      const session = await auth.sessions.issue(result.account.address);
      res.json({ token: session.token, expiresAt: session.expiresAt, couchUrl: gatewayDbUrl(req, result.account.db) });
    } catch (err) {
      log.error({ err: (err as Error).message }, 'login failed');
      sendError(res, 500, 'internal', 'login failed');
    }
  });

  // Logout: revokes the bearer token the request carries.
  router.delete(
    '/sessions',
    asyncRoute(async (req: Request, res: Response) => {
      const header = req.headers.authorization ?? '';
      const token = header.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : '';
      if (!token || !(await auth.sessions.verify(token))) {
        return sendError(res, 401, 'unauthorized', 'a valid bearer token is required', { 'www-authenticate': WWW_AUTHENTICATE });
      }
      await auth.sessions.revoke(token);
      res.status(204).end();
    }),
  );

  router.use((_req: Request, res: Response) => sendError(res, 404, 'not_found', 'no such API endpoint'));
  return router;
}
