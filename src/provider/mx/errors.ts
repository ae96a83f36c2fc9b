// The one error type of the provider's SMTP services: an SMTP reply code and
// text (RFC 5321 §4.2, enhanced status codes RFC 3463). smtp-server sends
// `responseCode` and `message` to the client as the reply.
export class DeliveryError extends Error {
  constructor(
    readonly responseCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** The client sees our reply for DeliveryErrors and a bland 451 for anything else. */
export function toSmtpError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  return new DeliveryError(451, '4.3.0 Temporary failure, please try again later');
}

/** RFC 5322 §3.3 date-time in UTC, e.g. "Thu, 26 Nov 2026 16:35:16 +0000". */
export function rfc5322Date(d = new Date()): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}
