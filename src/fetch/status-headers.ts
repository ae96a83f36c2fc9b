// The X-Sealmail-* status headers the fetch loop puts on every message it
// delivers, telling the mail client what sealmail verified. Any such headers
// that came from outside are removed first, so a sender cannot spoof them.
// Everything else in the message stays byte-exact.

export const STATUS_HEADERS = ['x-sealmail-encryption', 'x-sealmail-signature'] as const;

export interface MessageStatus {
  /**
   * 'decrypted': the sender encrypted it end to end to us; 'none': it was sent
   * in the clear (the provider encrypted it only on arrival); 'failed': it was
   * end-to-end encrypted but we could not decrypt the inner layer.
   */
  encryption: 'decrypted' | 'none' | 'failed';
  /** e.g. 'valid; fpr=ABCD...', 'invalid', 'unknown-key', 'none'. */
  signature: string;
}

/** Offset just past the header block's terminating blank line (or the end when there is none). */
export function headerEnd(raw: Buffer): number {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0x0a) continue;
    if (raw[i + 1] === 0x0a) return i + 2;
    if (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a) return i + 3;
  }
  return raw.length;
}

/** Removes the header fields named in `names` (with their folded continuation lines). */
export function removeHeaderFields(raw: Buffer, names: readonly string[]): Buffer {
  const end = headerEnd(raw);
  const kept: Buffer[] = [];
  let dropping = false;
  let pos = 0;
  while (pos < end) {
    let nl = raw.indexOf(0x0a, pos);
    if (nl === -1 || nl >= end) nl = end - 1;
    const line = raw.subarray(pos, nl + 1);
    const continuation = line[0] === 0x20 || line[0] === 0x09;
    if (!continuation) {
      const colon = line.indexOf(0x3a);
      const name = colon > 0 ? line.subarray(0, colon).toString('latin1').trim().toLowerCase() : '';
      dropping = names.includes(name);
    }
    if (!dropping) kept.push(line);
    pos = nl + 1;
  }
  kept.push(raw.subarray(end));
  return Buffer.concat(kept);
}

/** The message with foreign status headers removed and ours prepended (CRLF, like the rest of a well-formed message). */
export function applyStatusHeaders(raw: Buffer, status: MessageStatus): Buffer {
  const eol = raw.indexOf('\r\n') !== -1 || raw.length === 0 ? '\r\n' : '\n';
  const ours = Buffer.from(
    `X-Sealmail-Encryption: ${status.encryption}${eol}X-Sealmail-Signature: ${status.signature}${eol}`,
    'latin1',
  );
  return Buffer.concat([ours, removeHeaderFields(raw, STATUS_HEADERS)]);
}
