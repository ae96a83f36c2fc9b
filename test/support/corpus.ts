// A deterministic corpus of varied and malformed messages for the structure
// tests and the Dovecot differential: simple, alternative, mixed with base64
// and quoted-printable attachments, nested message/rfc822, encoded words in
// many charsets, RFC 2231 parameters, disposition/language/location, and
// the broken mail real servers see every day.
import iconv from 'iconv-lite';
import { mulberry32 as rng } from './prng.js';

export interface CorpusMessage {
  name: string;
  raw: Buffer;
}

function text(seed: number, lines: number): string {
  const r = rng(seed);
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'mail', 'crypto', 'key', 'seal', 'leap', 'bitmask', 'imap'];
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const n = 3 + Math.floor(r() * 10);
    const line: string[] = [];
    for (let j = 0; j < n; j++) line.push(words[Math.floor(r() * words.length)]!);
    out.push(line.join(' '));
  }
  return out.join('\r\n') + '\r\n';
}

function bytes(seed: number, n: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';
}

function ew(charset: string, s: string, enc: 'B' | 'Q' = 'B'): string {
  const data = iconv.encode(s, charset);
  if (enc === 'B') return `=?${charset}?B?${data.toString('base64')}?=`;
  const q = [...data].map((b) => (b >= 0x21 && b <= 0x7e && b !== 0x3d && b !== 0x3f && b !== 0x5f ? String.fromCharCode(b) : b === 0x20 ? '_' : '=' + b.toString(16).toUpperCase().padStart(2, '0'))).join('');
  return `=?${charset}?Q?${q}?=`;
}

const H = (subject: string, extra = '') =>
  `From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: ${subject}\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/[^a-z0-9]/gi, '').slice(0, 30) || 'x'}@example.org>\r\nMIME-Version: 1.0\r\n${extra}`;

function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

export function makeCorpus(): CorpusMessage[] {
  const m: CorpusMessage[] = [];
  const add = (name: string, raw: string | Buffer) => m.push({ name, raw: typeof raw === 'string' ? latin1(raw) : raw });

  add('simple', H('simple') + '\r\n' + text(1, 5));
  add('simple-ct', H('simple ct', 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n') + '\r\n' + Buffer.from('Grüße aus Köln\r\n', 'utf8').toString('latin1'));
  add('html-only', H('html', 'Content-Type: text/html; charset="iso-8859-1"\r\nContent-Transfer-Encoding: quoted-printable\r\n') + '\r\n<p>Caf=E9 cr=E8me</p>=\r\n<p>long soft break</p>\r\n');
  add(
    'alternative',
    H('alternative', 'Content-Type: multipart/alternative; boundary="alt-1"\r\n') +
      '\r\nThis is a multi-part message in MIME format.\r\n--alt-1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n' +
      text(2, 3) +
      '\r\n--alt-1\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<html><body>' +
      text(3, 2) +
      '</body></html>\r\n--alt-1--\r\n',
  );
  add(
    'mixed-attachments',
    H('mixed', 'Content-Type: multipart/mixed; boundary=mix\r\n') +
      '\r\n--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSch=C3=B6ne Gr=C3=BC=C3=9Fe,=20\r\nsoft=\r\nbreak here\r\n' +
      '--mix\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="data.bin"; size=600\r\n\r\n' +
      base64Lines(bytes(4, 600)) +
      '--mix\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: BASE64\r\nContent-ID: <img1@example.org>\r\nContent-Description: a picture\r\nContent-Disposition: inline\r\n\r\n' +
      base64Lines(bytes(5, 300)) +
      '--mix--\r\n',
  );
  add(
    'related-nested',
    H('related', 'Content-Type: multipart/mixed; boundary="outer"\r\n') +
      '\r\n--outer\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nplain\r\n--inner\r\nContent-Type: multipart/related; boundary="rel"; type="text/html"\r\n\r\n--rel\r\nContent-Type: text/html\r\n\r\n<img src="cid:x">\r\n--rel\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <x>\r\n\r\n' +
      base64Lines(bytes(6, 90)) +
      '--rel--\r\n--inner--\r\n--outer\r\nContent-Type: application/pdf; name=doc.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n' +
      base64Lines(bytes(7, 200)) +
      '--outer--\r\n',
  );
  const inner = H('inner message', 'Content-Type: multipart/alternative; boundary=in2\r\n') + '\r\n--in2\r\nContent-Type: text/plain\r\n\r\ninner plain\r\n--in2\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--in2--\r\n';
  add(
    'rfc822-nested',
    H('forward', 'Content-Type: multipart/mixed; boundary=fw\r\n') + '\r\n--fw\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--fw\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n' + inner + '\r\n--fw--\r\n',
  );
  add('rfc822-top', H('rfc822 top', 'Content-Type: message/rfc822\r\n') + '\r\n' + H('encapsulated simple') + '\r\nhello inside\r\n');
  add(
    'rfc822-double',
    H('double', 'Content-Type: multipart/mixed; boundary=d1\r\n') +
      '\r\n--d1\r\nContent-Type: message/rfc822\r\n\r\n' +
      H('level1', 'Content-Type: multipart/mixed; boundary=d2\r\n') +
      '\r\n--d2\r\nContent-Type: message/rfc822\r\n\r\n' +
      H('level2') +
      '\r\ndeep body\r\n--d2--\r\n\r\n--d1--\r\n',
  );
  add('digest', H('digest', 'Content-Type: multipart/digest; boundary=dg\r\n') + '\r\n--dg\r\n\r\n' + H('digest one') + '\r\none\r\n--dg\r\n\r\n' + H('digest two') + '\r\ntwo\r\n--dg--\r\n');

  // encoded words in many charsets (RFC 2047)
  const charsets: Array<[string, string]> = [
    ['UTF-8', 'Grüße — ünïcødé ✓'],
    ['ISO-8859-1', 'Café crème'],
    ['ISO-8859-2', 'Zażółć gęślą'],
    ['ISO-8859-15', 'Prix 5 €'],
    ['KOI8-R', 'Привет мир'],
    ['Shift_JIS', '日本語の件名'],
    ['GB2312', '中文主题'],
    ['windows-1252', 'smart “quotes”'],
    ['Big5', '繁體中文'],
  ];
  charsets.forEach(([cs, s], i) => {
    const subj = ew(cs, s, i % 2 ? 'Q' : 'B');
    add(`ew-${cs.toLowerCase()}`, `From: ${ew(cs, 'Náme ' + i)} <n${i}@example.org>\r\nTo: bob@example.net\r\nSubject: ${subj}\r\nDate: Mon, 2 Nov 2026 08:0${i}:00 +0100\r\nContent-Type: text/plain; charset=${cs}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n` + iconv.encode(s + '\r\n', cs).toString('latin1'));
  });
  add('ew-mixed-folded', H(`${ew('UTF-8', 'première partie')}\r\n ${ew('ISO-8859-1', 'deuxième', 'Q')} plain tail`) + '\r\nbody\r\n');

  // RFC 2231 parameters, disposition, language, location
  add(
    'rfc2231',
    H('rfc2231', 'Content-Type: multipart/mixed; boundary=r2231\r\n') +
      "\r\n--r2231\r\nContent-Type: application/octet-stream;\r\n name*0=\"very long \";\r\n name*1=\"file name.txt\"\r\nContent-Disposition: attachment;\r\n filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt\r\nContent-Language: en, fr\r\nContent-Location: http://example.org/x.txt\r\n\r\nabc\r\n" +
      "--r2231\r\nContent-Type: text/plain; title*0*=us-ascii'en'This%20is%20; title*1=\"fun\"\r\nContent-Language: de\r\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\r\nx\r\n--r2231--\r\n",
  );
  add('params-quoted', H('params', 'Content-Type: text/plain; charset="utf-8"; format=flowed; delsp=yes; name="a \\"q\\" b"\r\n') + '\r\nflowed \r\ntext\r\n');

  // malformed mail
  add('no-closing-boundary', H('no close', 'Content-Type: multipart/mixed; boundary=nc\r\n') + '\r\n--nc\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--nc\r\nContent-Type: text/plain\r\n\r\nsecond, never closed\r\n');
  add('bare-lf', H('bare lf').replace(/\r\n/g, '\n') + 'Content-Type: multipart/mixed; boundary=lf\n\n--lf\nContent-Type: text/plain\n\nline one\nline two\n--lf--\n');
  add('8bit-headers', 'From: J\xf6rg M\xfcller <joerg@example.de>\r\nTo: Ren\xe9 <rene@example.fr>\r\nSubject: Gr\xfc\xdfe ohne Kodierung\r\nDate: Tue, 3 Nov 2026 12:00:00 +0100\r\n\r\nbody\r\n');
  add('utf8-headers', Buffer.concat([Buffer.from('From: Jörg <j@example.de>\r\nSubject: Ünïcödé raw UTF-8 ✓\r\nTo: a@b.c\r\n\r\nbody\r\n', 'utf8')]));
  add('unknown-charset', H(`=?X-UNKNOWN?B?enp6?= and =?bogus?Q?abc?=`, 'Content-Type: text/plain; charset=x-made-up\r\n') + '\r\nbody\r\n');
  add('long-line', H('long line') + '\r\n' + 'x'.repeat(200_000) + '\r\nend\r\n');
  add('long-header', H('long header', `X-Long: ${'y'.repeat(5000)}\r\n`) + '\r\nb\r\n');
  {
    let many = H('many parts', 'Content-Type: multipart/mixed; boundary=mp\r\n') + '\r\n';
    for (let i = 0; i < 1500; i++) many += `--mp\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`;
    add('thousands-of-parts', many + '--mp--\r\n');
  }
  add('duplicate-headers', 'From: first@example.org\r\nFrom: second@example.org\r\nSubject: one\r\nSubject: two\r\nTo: a@b.c\r\nTo: d@e.f\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\nbody\r\n');
  add('group-syntax', 'From: alice@example.org\r\nTo: undisclosed-recipients:;\r\nCc: Friends: bob@example.net, "Carol C" <carol@example.net>;, dave@example.net\r\nSubject: groups\r\n\r\nhi\r\n');
  add('empty-from', 'From: \r\nTo: bob@example.net\r\nSubject: empty from\r\n\r\nbody\r\n');
  add('no-body', H('no body') + '\r\n');
  add('no-separator', 'From: alice@example.org\r\nSubject: header only\r\nTo: bob@example.net\r\n');
  add('no-header', '\r\nJust a body without any header.\r\n');
  add('not-a-header', 'This is not a header line\r\nFrom: x@y.z\r\n\r\nbody\r\n');
  add('empty-message', '');
  add('no-final-newline', H('no final newline') + '\r\nlast line without CRLF');
  add('missing-boundary-param', H('no boundary', 'Content-Type: multipart/mixed\r\n') + '\r\n--x\r\nContent-Type: text/plain\r\n\r\nx\r\n--x--\r\n');
  add('boundary-never-seen', H('no parts', 'Content-Type: multipart/mixed; boundary=zz\r\n') + '\r\njust text, no boundary\r\n');
  add('bad-content-type', H('bad ct', 'Content-Type: garbage\r\nContent-Transfer-Encoding: x-uuencode\r\n') + '\r\nbody\r\n');
  add('addresses-odd', 'From: "Last, First" <first.last@example.org>\r\nTo: bob@example.net (Bob Comment), <@route1,@route2:carol@example.net>, nodomain, "quoted local"@example.org, <>\r\nCc: =?UTF-8?B?w4lsb8Ok?= <e@example.org>\r\nReply-To: replies@example.org\r\nSender: sender@example.org\r\nIn-Reply-To: <prev@example.org>\r\nSubject: \t tabs   and  spaces \t\r\n\r\nbody\r\n');
  add('preamble-epilogue', H('pre epi', 'Content-Type: multipart/mixed; boundary="pe"\r\n') + '\r\npreamble line 1\r\npreamble line 2\r\n--pe\r\n\r\nno part header\r\n--pe--\r\nepilogue 1\r\nepilogue 2\r\n');
  add('boundary-prefix', H('boundary prefix', 'Content-Type: multipart/mixed; boundary="b"\r\n') + '\r\n--b\r\nContent-Type: text/plain\r\n\r\nline\r\n--bogus not a boundary?\r\nmore\r\n--b  \r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n');
  add('part-header-no-blank', H('part header no blank', 'Content-Type: multipart/mixed; boundary=hb\r\n') + '\r\n--hb\r\nContent-Type: text/plain\r\n--hb\r\nContent-Type: text/plain\r\n\r\nok\r\n--hb--\r\n');
  add('empty-parts', H('empty parts', 'Content-Type: multipart/mixed; boundary=ep\r\n') + '\r\n--ep\r\n--ep\r\n\r\n--ep--\r\n');
  add('qp-binary', H('qp binary', 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: quoted-printable\r\n') + '\r\n=00=01=02=FF trailing   \r\nsoft =\r\nbreak =3D done\r\ninvalid =ZZ and =4\r\n');
  add('base64-messy', H('base64 messy', 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n') + '\r\n' + base64Lines(bytes(9, 100)).replace(/(.{20})/g, '$1 \r\n ') + '\r\n');
  add('folded-subject', 'From: a@b.c\r\nSubject: this subject\r\n\tis folded\r\n  twice\r\nTo: d@e.f\r\n\r\nx\r\n');
  add('header-space-before-colon', 'From : a@b.c\r\nSubject   : spaced colon\r\nTo: d@e.f\r\n\r\nx\r\n');
  {
    // nesting deeper than any sane mail
    let deep = '';
    for (let i = 0; i < 30; i++) deep += `Content-Type: multipart/mixed; boundary=lvl${i}\r\n\r\n--lvl${i}\r\n`;
    deep += 'Content-Type: text/plain\r\n\r\nbottom\r\n';
    for (let i = 29; i >= 0; i--) deep += `--lvl${i}--\r\n`;
    add('deep-nesting', 'From: a@b.c\r\nSubject: deep\r\n' + deep);
  }
  add('nested-epilogue', H('nested epilogue', 'Content-Type: multipart/mixed; boundary=o\r\n') + '\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\na\r\n--i--\r\nepilogue of inner\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=j\r\n\r\n--j\r\nContent-Type: text/plain\r\n\r\nnever closed\r\n--o--\r\n');
  add('part-header-blank-boundary', H('blank then boundary', 'Content-Type: multipart/mixed; boundary=q\r\n') + '\r\n--q\r\nContent-Type: text/plain\r\n\r\n--q\r\nContent-Type: text/html\r\n\r\n\r\n--q--\r\n');
  add('duplicate-envelope-fields', 'Date: Mon, 2 Nov 2026 08:00:00 +0000\r\nDate: Tue, 3 Nov 2026 09:00:00 +0000\r\nFrom: a@b.c\r\nSender: s1@b.c\r\nSender: s2@b.c\r\nReply-To: r1@b.c\r\nReply-To: r2@b.c\r\nMessage-ID: <one@b.c>\r\nMessage-ID: <two@b.c>\r\nIn-Reply-To: <p1@b.c>\r\nIn-Reply-To: <p2@b.c>\r\nBcc: x@y.z\r\nBcc: w@y.z\r\nSubject: s\r\n\r\nbody\r\n');
  add('ct-no-subtype', H('ct no subtype', 'Content-Type: text; charset=utf-8\r\n') + '\r\nbody\r\n');
  add('ct-uppercase', H('ct uppercase', 'Content-Type: TEXT/HTML; CHARSET=UTF-8; Format=Flowed\r\nContent-Disposition: INLINE; FILENAME=A.HTML\r\n') + '\r\n<p>x</p>\r\n');
  add(
    'pgp-mime-encrypted',
    H('encrypted', 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc"\r\n') +
      '\r\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--enc\r\nContent-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n--enc\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\nContent-Description: OpenPGP encrypted message\r\nContent-Disposition: inline; filename="encrypted.asc"\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\n' +
      base64Lines(bytes(12, 400)) +
      '-----END PGP MESSAGE-----\r\n\r\n--enc--\r\n',
  );
  add(
    'pgp-mime-signed',
    H('signed', 'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="sig"\r\n') +
      '\r\n--sig\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsigned text=\r\n\r\n--sig\r\nContent-Type: application/pgp-signature; name="signature.asc"\r\nContent-Description: OpenPGP digital signature\r\nContent-Disposition: attachment; filename="signature.asc"\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\n' +
      base64Lines(bytes(13, 100)) +
      '-----END PGP SIGNATURE-----\r\n\r\n--sig--\r\n',
  );
  add('boundary-prefix-nested', H('nested prefix boundaries', 'Content-Type: multipart/mixed; boundary="abc"\r\n') + '\r\n--abc\r\nContent-Type: multipart/alternative; boundary="abcd"\r\n\r\n--abcd\r\nContent-Type: text/plain\r\n\r\ninner\r\n--abcd--\r\n--abc\r\nContent-Type: text/plain\r\n\r\nouter\r\n--abc--\r\n');
  add('boundary-special-chars', H('special boundary', 'Content-Type: multipart/mixed;\r\n boundary="----=_Part_123 (x)?.+*"\r\n') + '\r\n------=_Part_123 (x)?.+*\r\nContent-Type: text/plain\r\n\r\nx\r\n------=_Part_123 (x)?.+*--\r\n');
  add('ct-comments', H('ct comments', 'Content-Type: text/plain (plain text); charset="us-ascii" (ascii)\r\nContent-Disposition: ; filename=x.txt\r\nContent-Language: en (English), de\r\n') + '\r\nx\r\n');
  add('ew-in-params', H('ew params', 'Content-Type: multipart/mixed; boundary=e\r\n') + '\r\n--e\r\nContent-Type: application/pdf; name="=?UTF-8?B?w6TDtsO8LnBkZg==?="\r\nContent-Disposition: attachment; filename="=?UTF-8?B?w6TDtsO8LnBkZg==?="\r\n\r\nx\r\n--e--\r\n');
  add('cr-only', 'From: a@b.c\rSubject: old mac\r\rbody\rmore\r\n');
  add('nul-bytes', 'From: a@b.c\r\nSubject: nul\x00byte\r\n\r\nbody \x00 with nul\r\n');
  add('header-leading-space', ' From: a@b.c\r\nSubject: leading space\r\n\r\nbody\r\n');
  add('long-subject', H('x'.repeat(1500)) + '\r\nbody\r\n');
  add('rfc822-empty', H('empty rfc822', 'Content-Type: multipart/mixed; boundary=r\r\n') + '\r\n--r\r\nContent-Type: message/rfc822\r\n\r\n--r--\r\n');
  add('rfc822-no-header', H('rfc822 no header', 'Content-Type: message/rfc822\r\n') + '\r\n\r\njust a body\r\n');
  add('message-partial', H('partial', 'Content-Type: message/partial; id="abc@example.org"; number=1; total=2\r\n') + '\r\nFrom: x@y.z\r\n\r\npart one\r\n');
  add('address-encoded-group', 'From: =?UTF-8?Q?Gr=C3=BCppe?=: a@b.c;\r\nTo: "a@b" <x@y.z>, Name With Spaces <s@t.u>, <just@angle.org>\r\nSubject: addresses\r\n\r\nx\r\n');
  {
    let deep = '';
    for (let i = 0; i < 110; i++) deep += `Content-Type: multipart/mixed; boundary=d${i}\r\n\r\n--d${i}\r\n`;
    deep += 'Content-Type: text/plain\r\n\r\nbottom\r\n';
    for (let i = 109; i >= 0; i--) deep += `--d${i}--\r\n`;
    add('nesting-at-limit', 'From: a@b.c\r\nSubject: deeper than 100\r\n' + deep.replace(/boundary=d(\d+)/g, 'boundary=level-$1-x').replace(/--d(\d+)/g, '--level-$1-x'));
    add('nesting-over-limit', 'From: a@b.c\r\nSubject: deeper than 100\r\n' + deep);
  }
  {
    let many = 'From: a@b.c\r\nSubject: over the part limit\r\nContent-Type: multipart/mixed; boundary=pl\r\n\r\n';
    for (let i = 0; i < 10_010; i++) many += `--pl\r\n\r\n${i}\r\n`;
    add('parts-over-limit', many + '--pl--\r\n');
  }
  return m;
}
