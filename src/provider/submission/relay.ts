// Outbound relay for non-local recipients: hands the message to the
// configured smarthost with nodemailer (the only mode for now; no MX lookup).
// The raw bytes are passed through unchanged (nodemailer `raw`), streamed.
import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { DeliveryError } from '../mx/errors.js';

export interface RelayTarget {
  host: string;
  port: number;
  secure?: boolean;
  auth?: { user: string; pass: string };
}

export async function relayMessage(target: RelayTarget, hostname: string, from: string, to: string[], raw: Readable): Promise<void> {
  const transport = nodemailer.createTransport({
    host: target.host,
    port: target.port,
    secure: target.secure ?? false,
    name: hostname,
    auth: target.auth,
    connectionTimeout: 30_000,
  });
  try {
    await transport.sendMail({ envelope: { from, to }, raw });
  } catch (err) {
    raw.resume();
    const code = (err as { responseCode?: number }).responseCode;
    // A permanent refusal by the smarthost is permanent for our client too.
    if (code && code >= 500) throw new DeliveryError(554, `5.0.0 Relay refused the message (${code})`);
    throw new DeliveryError(451, '4.4.1 Relay temporarily unavailable, try again later');
  } finally {
    transport.close();
  }
}
