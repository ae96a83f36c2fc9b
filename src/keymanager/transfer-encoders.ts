// Content-Transfer-Encoding writers (RFC 2045 §6.7, §6.8) that take a body a
// slice at a time and write exactly what mime.ts encodeQuotedPrintable and
// encodeBase64Lines write for the whole body: the streaming 7-bit re-encoding
// in mime-seven-bit.ts uses them.

const CRLF = Buffer.from('\r\n');

export interface BodyEncoder {
  /** A slice of a line (`start`: it begins one; `end`: it ends it). */
  piece(data: Buffer, start: boolean, end: boolean): string;
  /** The CRLF between two lines of the body. */
  lineBreak(): string;
  finish(): string;
}

/** Quoted-printable as mime.ts encodeQuotedPrintable writes it, a slice at a time. */
export class QuotedPrintable implements BodyEncoder {
  private cur = '';
  private fromLine = false;

  piece(data: Buffer, start: boolean, end: boolean): string {
    let out = '';
    if (start) this.fromLine = data.subarray(0, 5).toString('latin1') === 'From ';
    for (let i = 0; i < data.length; i++) {
      const c = data[i];
      const last = end && i === data.length - 1;
      let enc: string;
      if ((c === 0x20 || c === 0x09) && last) enc = `=${hex(c)}`;
      else if ((c >= 33 && c <= 126 && c !== 61) || c === 0x20 || c === 0x09) enc = String.fromCharCode(c);
      else enc = `=${hex(c)}`;
      // A line starting with "From " or "." can be mangled by relays; encode the first char.
      if (this.cur.length === 0 && (c === 0x2e || (c === 0x46 && this.fromLine))) enc = `=${hex(c)}`;
      if (this.cur.length + enc.length > 75) {
        out += this.cur + '=\r\n';
        this.cur = '';
      }
      this.cur += enc;
    }
    return out;
  }

  lineBreak(): string {
    const out = this.cur + '\r\n';
    this.cur = '';
    return out;
  }

  finish(): string {
    const out = this.cur;
    this.cur = '';
    return out;
  }
}

const hex = (c: number): string => c.toString(16).toUpperCase().padStart(2, '0');

/** Base64 in 76-character lines (RFC 2045 §6.8), as mime.ts encodeBase64Lines writes it. */
export class Base64Lines implements BodyEncoder {
  private carry = Buffer.alloc(0);
  private any = false;

  piece(data: Buffer): string {
    return this.push(data);
  }

  lineBreak(): string {
    return this.push(CRLF);
  }

  finish(): string {
    const out = this.lines(this.carry.toString('base64'));
    this.carry = Buffer.alloc(0);
    return out;
  }

  private push(data: Buffer): string {
    const all = this.carry.length ? Buffer.concat([this.carry, data]) : data;
    const whole = all.length - (all.length % 57);
    this.carry = Buffer.from(all.subarray(whole));
    return whole ? this.lines(all.subarray(0, whole).toString('base64')) : '';
  }

  private lines(b64: string): string {
    if (!b64) return '';
    const lines: string[] = [];
    for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
    const out = (this.any ? '\r\n' : '') + lines.join('\r\n');
    this.any = true;
    return out;
  }
}
