// Every HTTP error leaves the provider as CouchDB-style JSON
// `{ error, reason }` with its status, never a stack trace.
import type { Request, RequestHandler, Response } from 'express';
import { logger } from '../../util/log.js';

export function sendError(res: Response, status: number, error: string, reason: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(status).set(headers).json({ error, reason });
}

const log = logger('provider-http');

/** Express 4 does not catch rejected promises: an async handler's failure becomes a 500 here. */
export function asyncRoute(handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    handler(req, res).catch((err: unknown) => {
      log.error({ err: (err as Error).message, path: req.path }, 'request failed');
      sendError(res, 500, 'internal', 'internal error');
    });
  };
}
