// Messages for the message-data command tests: plain, multipart with a base64
// attachment and an attached message, Latin-1 quoted-printable, keywords.
const CRLF = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'latin1');

export const PLAIN = CRLF([
  'From: Alice Example <alice@example.org>',
  'To: Bob <bob@example.net>',
  'Subject: Lunch on Friday',
  'Date: Fri, 05 Jan 2024 10:00:00 +0000',
  'Message-ID: <lunch@example.org>',
  'X-Priority: 3',
  '',
  'Shall we meet at noon?',
  '',
]);

export const MIXED = CRLF([
  'From: Bob <bob@example.net>',
  'To: Alice Example <alice@example.org>',
  'Cc: carol@example.com',
  'Subject: =?UTF-8?B?UsOpc3Vtw6k=?= attached',
  'Date: Sat, 06 Jan 2024 12:30:00 +0100',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="XYZ"',
  '',
  'This is a multi-part message in MIME format.',
  '--XYZ',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Please find my CV attached.',
  '--XYZ',
  'Content-Type: message/rfc822',
  '',
  'From: Carol <carol@example.com>',
  'Subject: forwarded note',
  '',
  'the inner needle',
  '--XYZ',
  'Content-Type: application/octet-stream; name="cv.bin"',
  'Content-Transfer-Encoding: base64',
  'Content-Disposition: attachment; filename="cv.bin"',
  '',
  Buffer.from([0, 1, 2, 3, 250, 251, 0, 7]).toString('base64'),
  '--XYZ--',
  '',
]);

export const LATIN1 = CRLF([
  'From: carol@example.com',
  'To: alice@example.org',
  'Subject: caf\xe9 report',
  'Date: Mon, 01 Jan 2024 08:00:00 -0500',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=iso-8859-1',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Le caf=E9 est pr=EAt, see =',
  'you there.',
  '',
]);

export const ALL = [PLAIN, MIXED, LATIN1];
