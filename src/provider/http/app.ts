// The provider's HTTP surface on one port: account API, key directory, WKD,
// and (for every other path) the sync gateway. Body parsers are mounted per
// route so the gateway receives untouched, streaming request bodies.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Authenticator } from '../accounts/login.js';
import type { KeyDirectory } from '../keys/directory.js';
import type { Gateway } from '../gateway/proxy.js';
import { accountsRouter, type ProviderConfigInfo } from './api.js';
import { keysRouter, wkdRouter } from './keys.js';
import { sendError } from './errors.js';

export function createHttpApp(auth: Authenticator, keys: KeyDirectory, gateway: Gateway, domains: string[], config: () => ProviderConfigInfo): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use('/api', accountsRouter(auth, config));
  app.use('/keys', keysRouter(keys, auth.sessions, auth.accounts));
  app.use('/.well-known/openpgpkey', wkdRouter(keys, domains));
  app.use((req: Request, res: Response) => gateway.handle(req, res));
  // Body-parser failures (malformed JSON, too large) and anything unexpected.
  app.use((err: { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.status === 413) return sendError(res, 413, 'too_large', 'request body too large');
    if (err.status === 400) return sendError(res, 400, 'bad_request', 'malformed request body');
    sendError(res, 500, 'internal', 'internal error');
  });
  return app;
}
