// The one error type of the SMTP gateway: it carries the reply code (and the
// RFC 3463 enhanced status) that smtp-server sends to the client. Messages
// are for the user (Thunderbird shows them); never a stack trace.
export class SmtpError extends Error {
  /** smtp-server reads this property to choose the reply code. */
  readonly responseCode: number;

  constructor(code: number, readonly enhanced: string, text: string) {
    super(`${enhanced} ${text}`);
    this.name = 'SmtpError';
    this.responseCode = code;
  }
}
