// Random but deterministic MIME messages for the generative Dovecot
// differential: trees of multiparts, message/rfc822 and leaves with varied
// headers, parameters and transfer encodings, sprinkled with the quirks real
// mail has (missing closing boundaries, headers without a blank line,
// boundaries that are prefixes of each other, folded and duplicate fields).
// CRLF line ends only: bare LF is covered by the fixed corpus.
import type { CorpusMessage } from './corpus.js';
import { mulberry32 as rng } from './prng.js';

class Gen {
  private n = 0;
  constructor(private readonly r: () => number) {}
  chance(p: number): boolean {
    return this.r() < p;
  }
  int(max: number): number {
    return Math.floor(this.r() * max);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  uid(): number {
    return ++this.n;
  }

  address(): string {
    const local = this.pick(['alice', 'bob', 'c.d', 'e_f', 'x+tag']);
    const host = this.pick(['example.org', 'mail.example.net', 'sub.example.co.uk']);
    switch (this.int(7)) {
      case 0:
        return `${local}@${host}`;
      case 1:
        return `${this.pick(['Alice', 'Bob Smith', 'Dr. Who'])} <${local}@${host}>`;
      case 2:
        return `"${this.pick(['Smith, John', 'a "quoted" name', 'plain'])}" <${local}@${host}>`;
      case 3:
        return `=?UTF-8?B?w4lsb8Ovc2U=?= <${local}@${host}>`;
      case 4:
        return `${local}@${host} (${this.pick(['comment', 'Real Name'])})`;
      case 5:
        return `team: ${local}@${host}, other@${host};`;
      default:
        return `<${local}@${host}>`;
    }
  }

  messageHeader(): string {
    let h = '';
    if (this.chance(0.9)) h += `From: ${this.address()}\r\n`;
    if (this.chance(0.8)) h += `To: ${this.address()}${this.chance(0.4) ? `, ${this.address()}` : ''}\r\n`;
    if (this.chance(0.3)) h += `Cc: ${this.address()}\r\n`;
    if (this.chance(0.2)) h += `Reply-To: ${this.address()}\r\n`;
    if (this.chance(0.85)) {
      const subject = this.pick(['hello', 'Re: [list] a topic', '=?ISO-8859-1?Q?caf=E9?= time', 'tabs\there', 'folded\r\n subject line', '']);
      h += `Subject: ${subject}\r\n`;
    }
    if (this.chance(0.8)) h += `Date: ${this.pick(['Thu, 26 Nov 2026 10:00:00 +0000', '1 Jan 2026 00:00 GMT', 'garbage date'])}\r\n`;
    if (this.chance(0.7)) h += `Message-ID: <m${this.uid()}@example.org>\r\n`;
    if (this.chance(0.2)) h += `In-Reply-To: <p${this.uid()}@example.org>\r\n`;
    if (this.chance(0.5)) h += 'MIME-Version: 1.0\r\n';
    if (this.chance(0.05)) h += 'X-Empty:\r\n';
    if (this.chance(0.05)) h += 'X-8bit: caf\xe9 na\xefve\r\n';
    if (this.chance(0.03)) h += `X-Long: ${'z'.repeat(2000)}\r\n`;
    return h;
  }

  params(): string {
    let p = '';
    if (this.chance(0.3)) p += `; name="file ${this.uid()}.bin"`;
    if (this.chance(0.1)) p += `; title*0*=us-ascii'en'part%20one; title*1=" two"`;
    if (this.chance(0.1)) p += '; x-unquoted=token';
    if (this.chance(0.05)) p += '; filename="=?UTF-8?B?w6TDtsO8LnBkZg==?="';
    if (this.chance(0.03)) p += ';';
    return p;
  }

  partExtras(): string {
    let h = '';
    if (this.chance(0.2)) h += `Content-ID: <c${this.uid()}@example.org>\r\n`;
    if (this.chance(0.15)) h += 'Content-Description: some part\r\n';
    if (this.chance(0.3)) h += `Content-Disposition: ${this.pick(['inline', 'attachment', 'ATTACHMENT'])}${this.chance(0.5) ? `; filename="f${this.uid()}.dat"` : ''}\r\n`;
    if (this.chance(0.1)) h += `Content-Language: ${this.pick(['en', 'de, fr', 'en-GB'])}\r\n`;
    if (this.chance(0.05)) h += 'Content-Location: http://example.org/x\r\n';
    if (this.chance(0.05)) h += 'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n';
    return h;
  }

  leafBody(cte: string): string {
    const lines = this.int(6);
    let out = '';
    for (let i = 0; i < lines; i++) {
      if (cte === 'base64') out += 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n'.slice(this.chance(0.5) ? 0 : 36);
      else if (cte === 'quoted-printable') out += `line ${i} caf=C3=A9 soft=\r\nbreak\r\n`;
      else out += `line ${i} of text${this.chance(0.1) ? ' \xe9' : ''}\r\n`;
      if (this.chance(0.05)) out += '\r\n \r\n';
    }
    if (this.chance(0.2)) out = out.replace(/\r\n$/, '');
    return out;
  }

  /** A part (MIME header + body) at `depth`; `parentBoundaries` for prefix collisions. */
  part(depth: number, parentBoundary: string | null, header = ''): string {
    const kind = depth > 3 ? 0 : this.int(10);
    if (kind >= 7) {
      const boundary = parentBoundary && this.chance(0.2) ? parentBoundary + 'x' : `b${this.uid()}${this.pick(['', '_=', '-.'])}`;
      const sub = this.pick(['mixed', 'alternative', 'related', 'digest', 'signed']);
      const ct = this.chance(0.05)
        ? `multipart/${sub}` // no boundary at all
        : `multipart/${sub}; boundary=${this.chance(0.7) ? `"${boundary}"` : boundary}${this.chance(0.1) ? ' (comment)' : ''}`;
      let out = `${header}Content-Type: ${ct}${this.params()}\r\n${this.partExtras()}\r\n`;
      if (this.chance(0.3)) out += 'preamble text\r\n';
      const children = this.int(4);
      for (let i = 0; i < children; i++) {
        out += `--${boundary}${this.chance(0.1) ? '  ' : this.chance(0.05) ? ' trailing junk' : ''}\r\n`;
        out += sub === 'digest' && this.chance(0.5) ? `\r\n${this.messageHeader()}\r\nbody\r\n` : this.part(depth + 1, boundary);
        if (!out.endsWith('\r\n')) out += '\r\n';
      }
      if (this.chance(0.85)) out += `--${boundary}--\r\n`;
      if (this.chance(0.2)) out += 'epilogue\r\n';
      return out;
    }
    if (kind === 6) {
      return `${header}Content-Type: message/rfc822\r\n${this.partExtras()}\r\n${this.message(depth + 1)}`;
    }
    const type = this.pick(['text/plain', 'text/html', 'application/octet-stream', 'image/png', 'TEXT/Plain']);
    const cte = this.pick(['7bit', '8bit', 'base64', 'quoted-printable', 'Base64']);
    let out = header;
    if (this.chance(0.85)) out += `Content-Type: ${type}${type.startsWith('text') && this.chance(0.6) ? '; charset=utf-8' : ''}${this.params()}\r\n`;
    if (this.chance(0.8)) out += `Content-Transfer-Encoding: ${cte}\r\n`;
    out += this.partExtras();
    if (this.chance(0.95)) out += '\r\n';
    return out + this.leafBody(cte.toLowerCase());
  }

  message(depth: number): string {
    return this.part(depth, null, this.messageHeader());
  }
}

/** `count` random messages from `seed` (same seed, same messages). */
export function makeRandomCorpus(seed: number, count: number): CorpusMessage[] {
  const g = new Gen(rng(seed));
  const out: CorpusMessage[] = [];
  for (let i = 0; i < count; i++) {
    const raw = Buffer.from(g.message(0), 'latin1');
    out.push({ name: `random-${seed}-${i}`, raw: raw.length ? raw : Buffer.from('Subject: empty\r\n\r\n') });
  }
  return out;
}
