// Account API: registration and login (password → bearer token + the URL of
// the user's database at the sync gateway), password change, logout (this
// session or all of them). Bodies are validated strictly: exactly the
// expected string fields, bounded lengths.
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

interface PasswordChange {
  address: string;
  password: string;
  newPassword: string;
}

function readPasswordChange(body: unknown): PasswordChange | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object';
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'address,newPassword,password') return 'body must have exactly "address", "password" and "newPassword"';
  const { address, password, newPassword } = body as Record<string, unknown>;
  if (typeof address !== 'string' || !parseAddress(address)) return '"address" must be a mail address';
  if (typeof password !== 'string' || password.length < 1 || password.length > 4096) return '"password" must be a string of 1 to 4096 characters';
  if (typeof newPassword !== 'string' || newPassword.length < 8 || newPassword.length > 4096) return '"newPassword" must be a string of 8 to 4096 characters';
  return { address, password, newPassword };
}

function bearerToken(req: Request): string {
  const header = req.headers.authorization ?? '';
  return header.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : '';
}

function requireToken(res: Response): void {
  sendError(res, 401, 'unauthorized', 'a valid bearer token is required', { 'www-authenticate': WWW_AUTHENTICATE });
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

  // Password change: the bearer token of a session of the account AND the old
  // password (rate limited like a login). Ends every other session.
  router.post(
    '/password',
    asyncRoute(async (req: Request, res: Response) => {
      const change = readPasswordChange(req.body);
      if (typeof change === 'string') return sendError(res, 400, 'bad_request', change);
      const token = bearerToken(req);
      if (!token) return requireToken(res);
      const result = await auth.changePassword(token, change.address, change.password, change.newPassword, req.socket.remoteAddress ?? 'unknown');
      if (!result.ok) {
        if (result.reason === 'bad_token') return requireToken(res);
        if (result.reason === 'rate_limited') {
          return sendError(res, 429, 'too_many_attempts', `too many failed logins; retry in ${result.retryAfter} s`, { 'retry-after': String(result.retryAfter) });
        }
        return sendError(res, 403, 'wrong_password', 'the current password is wrong');
      }
      log.info({ revokedSessions: result.revokedSessions, alreadyChanged: result.alreadyChanged }, 'password changed');
      res.json({ revokedSessions: result.revokedSessions });
    }),
  );

  // Logout: revokes the bearer token the request carries.
  router.delete(
    '/sessions',
    asyncRoute(async (req: Request, res: Response) => {
      const token = bearerToken(req);
      if (!token || !(await auth.sessions.verify(token))) return requireToken(res);
      await auth.sessions.revoke(token);
      res.status(204).end();
    }),
  );

  // Logout everywhere: revokes every session of the token's account, this one included.
  router.delete(
    '/sessions/all',
    asyncRoute(async (req: Request, res: Response) => {
      const token = bearerToken(req);
      const address = token ? await auth.sessions.verify(token) : null;
      if (!address) return requireToken(res);
      const revoked = await auth.sessions.revokeAll(address);
      log.info({ revoked }, 'all sessions revoked');
      res.json({ revoked });
    }),
  );

  router.use((_req: Request, res: Response) => sendError(res, 404, 'not_found', 'no such API endpoint'));
  return router;
}
