// A delivery status notification (RFC 3464, in a RFC 6522 multipart/report)
// for a message the provider refused permanently (or that could not be sent
// for too long). The daemon appends it to the sender's INBOX.
import { randomUUID } from 'node:crypto';

export interface BounceInput {
  from: string;
  to: string;
  messageId: string;
  /** The refused message's header block (its body is encrypted; headers are enough to recognise it). */
  originalHeaders: string;
  queuedAt: string;
  /** The provider's reply, e.g. "550 5.1.1 no such user", or our own reason when giving up. */
  diagnostic: string;
  /** RFC 3463 status, e.g. 5.1.1; derived from the reply when it carries one. */
  status?: string;
  now?: Date;
}

function statusFrom(diagnostic: string): string {
  return diagnostic.match(/\b([245]\.\d{1,3}\.\d{1,3})\b/)?.[1] ?? '5.0.0';
}

/** Lines of at most 76 characters (RFC 5322 2.1.1 recommends 78). */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > 76) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\r\n');
}

/** One line, printable ASCII only: the diagnostic comes from a remote server. */
const clean = (s: string): string => s.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 900);

/**
 * What the sender can do about it, from the status (RFC 3463: the subject
 * digit says what kind of problem) and, for relaying, the reply's text (5.7.1
 * is also any other policy refusal). "Check the address" is only right for 5.1.x.
 */
export function bounceAdvice(status: string, diagnostic: string): string {
  const [cls, subject, detail] = status.split('.');
  if (cls === '4') {
    return 'sealmail kept trying to hand it to your provider, but the refusal stayed temporary (or the provider could not be reached) for too long, so it stopped. Send it again later.';
  }
  // Only as a policy (5.7.x) or code-less refusal: Postfix's unknown user is "5.1.1 ... User unknown in relay recipient table".
  if ((subject === '7' || status === '5.0.0') && /\brelay/i.test(diagnostic)) {
    return 'Your provider is not set up to send mail to other domains (it has no relay for them), so mail from this account can only go to addresses at its own domain. Sending it again will not help: ask the provider\'s administrator to configure a relay.';
  }
  if (subject === '1') return 'The address does not exist or is misspelled. Check the address and send it again.';
  if (subject === '2' && detail === '2') return "The recipient's mailbox is full. Try again later, or reach them another way.";
  if (subject === '3' && detail === '4') return 'The message is too large for the receiving server. Send it again with smaller or fewer attachments.';
  if (subject === '7') return "The receiving server refused the message by its policy (see its reply above). Sending it again unchanged will not help; the recipient's administrator can tell you why.";
  return 'The mail server refused it permanently; its reply above says why.';
}

export function buildBounce(input: BounceInput): Buffer {
  const now = input.now ?? new Date();
  const status = input.status ?? statusFrom(input.diagnostic);
  const diag = clean(input.diagnostic);
  const boundary = `sealmail-report-${randomUUID()}`;
  const human =
    `Your message to <${input.to}> could not be delivered.\r\n\r\n` +
    `The mail server said:\r\n    ${diag}\r\n\r\n` +
    `The message (Message-ID ${clean(input.messageId)}) was queued at ${input.queuedAt} and will not be retried.\r\n` +
    `${wrap(bounceAdvice(status, diag))}\r\n`;
  const dsn =
    `Reporting-MTA: dns; localhost (sealmail)\r\n` +
    `Arrival-Date: ${new Date(input.queuedAt).toUTCString().replace('GMT', '+0000')}\r\n\r\n` +
    `Final-Recipient: rfc822; ${input.to}\r\n` +
    `Action: failed\r\n` +
    `Status: ${status}\r\n` +
    `Diagnostic-Code: smtp; ${diag}\r\n` +
    `Last-Attempt-Date: ${now.toUTCString().replace('GMT', '+0000')}\r\n`;
  const headers = input.originalHeaders.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '\r\n');
  const msg =
    `From: Mail Delivery System <MAILER-DAEMON@localhost>\r\n` +
    `To: <${input.from}>\r\n` +
    `Subject: Undelivered Mail Returned to Sender\r\n` +
    `Date: ${now.toUTCString().replace('GMT', '+0000')}\r\n` +
    `Message-ID: <${randomUUID()}@sealmail.localhost>\r\n` +
    `Auto-Submitted: auto-replied\r\n` +
    `MIME-Version: 1.0\r\n` +
    `Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="${boundary}"\r\n\r\n` +
    `This is a delivery status notification (RFC 3464).\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Description: Notification\r\n\r\n${human}\r\n` +
    `--${boundary}\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n${dsn}\r\n` +
    `--${boundary}\r\nContent-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\n\r\n${headers}\r\n` +
    `--${boundary}--\r\n`;
  return Buffer.from(msg, 'latin1');
}
