// The CLI's contract with the user: a failure is one clear sentence on stderr
// and a non-zero exit, never a stack trace (set SEALMAIL_DEBUG=1 for one).

import { UserError } from '../util/user-error.js';

export { UserError };

/** Turns known low-level failures into sentences a user can act on. */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e && e.code === 'EADDRINUSE') return `port ${e.port ?? ''} on ${e.address ?? 'localhost'} is already in use; stop the other program or choose another port in the configuration`;
  if (e && e.code === 'EACCES' && e.syscall === 'listen') return `not allowed to listen on port ${e.port ?? ''}; choose a port above 1024`;
  if (e && e.code === 'ECONNREFUSED') return `could not reach ${e.address ?? 'the server'}:${e.port ?? ''} (connection refused); is the provider running?`;
  if (e && e.code === 'ELOCKED') return 'another sealmail daemon is already running on this data directory';
  if (e instanceof Error) return e.message;
  return String(err);
}

export function fail(err: unknown): never {
  if (process.env.SEALMAIL_DEBUG) console.error(err);
  console.error(`sealmail: ${describeError(err)}`);
  process.exit(err instanceof UserError ? err.exitCode : 1);
}
