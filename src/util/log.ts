// One logger for the whole daemon and provider. Structured (pino); pretty in a
// terminal, JSON under systemd. Never log message contents, passphrases, keys
// or passwords: the redact list is a safety net, not the policy.
import { pino, type Logger } from 'pino';

const level = process.env.SEALMAIL_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');

export const log: Logger = pino({
  level,
  base: undefined,
  redact: {
    paths: ['password', 'passphrase', 'secret', 'token', 'key', 'privateKey', '*.password', '*.passphrase', '*.secret', '*.token', '*.privateKey'],
    censor: '[redacted]',
  },
});

/** A child logger carrying the component name (and any other context). */
export function logger(component: string, context: Record<string, unknown> = {}): Logger {
  return log.child({ component, ...context });
}
