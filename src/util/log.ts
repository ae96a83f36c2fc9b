// One logger for the whole daemon and provider. Structured (pino) on stderr:
// human-readable in a terminal, JSON otherwise (under systemd, journald) or
// with SEALMAIL_LOG_FORMAT=json. Never log message contents, passphrases, keys
// or passwords: the redact list is a safety net, not the policy.
import { pino, type Logger } from 'pino';
import { createRequire } from 'node:module';
import type PinoPretty from 'pino-pretty';

const level = process.env.SEALMAIL_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');
const usePretty = process.stderr.isTTY === true && process.env.SEALMAIL_LOG_FORMAT !== 'json';

export const log: Logger = pino(
  {
    level,
    base: undefined,
    redact: {
      paths: ['password', 'passphrase', 'secret', 'token', 'key', 'privateKey', '*.password', '*.passphrase', '*.secret', '*.token', '*.privateKey'],
      censor: '[redacted]',
    },
  },
  // pino-pretty is loaded only for a terminal: not under systemd, in tests or benches (~50 ms of every start).
  // One line per record: the quickstart's ~20 start-up records took ~90 lines and pushed its settings off screen.
  usePretty ? (createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty)({ destination: 2, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss', singleLine: true }) : pino.destination({ dest: 2, sync: true }),
);

/** A child logger carrying the component name (and any other context). */
export function logger(component: string, context: Record<string, unknown> = {}): Logger {
  return log.child({ component, ...context });
}
