// Before the daemon starts anything: is every port it will listen on free?
// Each is found in use only when its own server starts, so a user whose
// ports were taken learnt of them one start at a time, and a quickstart was
// left half set up (accounts created, no welcome message) by the first.
import net from 'node:net';
import type { SealmailConfig } from './config.js';

export interface Listener {
  host: string;
  port: number;
}

/** Each address the daemon listens on: its key in config.json, the variable that sets it on a first start, and where it is. */
export const LISTEN_SETTINGS: ReadonlyArray<{ key: string; variable: string; listener: (c: SealmailConfig) => Listener | null }> = [
  { key: 'imap.port', variable: 'SEALMAIL_IMAP_PORT', listener: (c) => ({ host: c.imap.host, port: c.imap.port }) },
  { key: 'smtp.port', variable: 'SEALMAIL_SMTP_PORT', listener: (c) => ({ host: c.smtp.host, port: c.smtp.port }) },
  { key: 'embeddedProvider.httpPort', variable: 'SEALMAIL_PROVIDER_HTTP_PORT', listener: (c) => (c.embeddedProvider ? { host: c.embeddedProvider.host, port: c.embeddedProvider.httpPort } : null) },
  { key: 'embeddedProvider.mxPort', variable: 'SEALMAIL_PROVIDER_MX_PORT', listener: (c) => (c.embeddedProvider ? { host: c.embeddedProvider.host, port: c.embeddedProvider.mxPort } : null) },
  { key: 'embeddedProvider.submissionPort', variable: 'SEALMAIL_PROVIDER_SUBMISSION_PORT', listener: (c) => (c.embeddedProvider ? { host: c.embeddedProvider.host, port: c.embeddedProvider.submissionPort } : null) },
];

/** The addresses the daemon listens on with this configuration (port 0, "any free port", left out). */
export function listenersOf(config: SealmailConfig): Listener[] {
  return LISTEN_SETTINGS.flatMap(({ listener }) => {
    const l = listener(config);
    return l && l.port > 0 ? [l] : [];
  });
}

/** A connection on the loopback is answered at once; a filtered address should not hold up the start. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Whether something listens on `host:port`: a connection to it is taken.
 * Found by connecting, not by listening there for a moment: a client
 * connecting to the daemon in that moment (a mail client retrying, a
 * script waiting for the port) would be accepted by the probe and then
 * reset. Refused, timed out or any other error: free (the real listen
 * reports whatever else is wrong).
 */
function inUse({ host, port }: Listener): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (busy: boolean): void => {
      socket.destroy();
      resolve(busy);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A listen that would fail for these ports; shaped like node's own EADDRINUSE error for the first of them. */
export class PortsInUseError extends Error {
  readonly code = 'EADDRINUSE';
  readonly port: number;
  readonly address: string;
  constructor(readonly listeners: Listener[]) {
    super(`listen EADDRINUSE: ${listeners.map((l) => `${l.host}:${l.port}`).join(', ')}`);
    this.port = listeners[0]!.port;
    this.address = listeners[0]!.host;
  }
}

/** Throws PortsInUseError naming every port of the configuration that is in use. */
export async function assertPortsFree(config: SealmailConfig): Promise<void> {
  const listeners = listenersOf(config);
  const busy = await Promise.all(listeners.map(inUse));
  const taken = listeners.filter((_, i) => busy[i]);
  if (taken.length > 0) throw new PortsInUseError(taken);
}
