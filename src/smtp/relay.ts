// Relays one queued message to the provider's submission server (RFC 6409)
// with nodemailer, and classifies the outcome: permanent (a 5xx about the
// message or recipient) or temporary (network, 4xx, our own auth trouble).
import nodemailer, { type Transporter } from 'nodemailer';
import type { Readable } from 'node:stream';

export interface RelayConfig {
  host: string;
  port: number;
  /** Implicit TLS (port 465 style); otherwise STARTTLS when offered. */
  secure?: boolean;
  /** Refuse to send unless STARTTLS succeeds. */
  requireTLS?: boolean;
  user: string;
  /** The account's bearer token, used as the AUTH password. */
  token: string;
  tls?: { rejectUnauthorized?: boolean; ca?: string | Buffer };
  /** Connection and greeting timeout; default 30 s. */
  timeoutMs?: number;
}

export type RelayOutcome = { ok: true; response: string } | { ok: false; permanent: boolean; error: string };

export class Relay {
  private readonly transport: Transporter;

  constructor(cfg: RelayConfig) {
    const timeout = cfg.timeoutMs ?? 30_000;
    this.transport = nodemailer.createTransport({
      host: cfg.host,
      port: cfg.port,
      secure: cfg.secure ?? false,
      requireTLS: cfg.requireTLS ?? false,
      auth: { user: cfg.user, pass: cfg.token },
      tls: cfg.tls,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout * 4,
      // One connection per message: a queue retries rarely, and a dead pooled socket must not look like a 4xx.
      pool: false,
      logger: false,
    });
  }

  async send(msg: { from: string; to: string; message: Readable }): Promise<RelayOutcome> {
    try {
      const info = await this.transport.sendMail({ envelope: { from: msg.from, to: [msg.to] }, raw: msg.message });
      if ((info.rejected?.length ?? 0) > 0) return { ok: false, permanent: true, error: info.response || 'recipient rejected' };
      return { ok: true, response: info.response ?? '' };
    } catch (err) {
      msg.message.destroy();
      const e = err as Error & { responseCode?: number; code?: string; response?: string };
      const text = e.response ?? e.message;
      // A 5xx to AUTH means our token is wrong, not that the message is undeliverable: keep it queued.
      const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500 && e.code !== 'EAUTH';
      return { ok: false, permanent, error: text };
    }
  }

  close(): void {
    this.transport.close();
  }
}
