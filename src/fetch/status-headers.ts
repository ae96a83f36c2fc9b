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
  for (let lf = raw.indexOf(0x0a); lf >= 0; lf = raw.indexOf(0x0a, lf + 1)) {
    if (raw[lf + 1] === 0x0a) return lf + 2;
    if (raw[lf + 1] === 0x0d && raw[lf + 2] === 0x0a) return lf + 3;
  }
  return raw.length;
}

/**
 * What is left of `raw` without the header fields named in `names` (with
 * their folded continuation lines): slices of `raw` in order, one per run
 * of kept lines (the last run takes the body along), nothing copied.
 */
function keptSlices(raw: Buffer, names: readonly string[]): Buffer[] {
  const end = headerEnd(raw);
  const kept: Buffer[] = [];
  let runStart = 0;
  let dropping = false;
  let pos = 0;
  while (pos < end) {
    let nl = raw.indexOf(0x0a, pos);
    if (nl === -1 || nl >= end) nl = end - 1;
    const continuation = raw[pos] === 0x20 || raw[pos] === 0x09;
    if (!continuation) {
      const colon = raw.indexOf(0x3a, pos);
      const name = colon > pos && colon <= nl ? raw.toString('latin1', pos, colon).trim().toLowerCase() : '';
      const drop = names.includes(name);
      if (drop && !dropping && pos > runStart) kept.push(raw.subarray(runStart, pos));
      if (!drop && dropping) runStart = pos;
      dropping = drop;
    }
    pos = nl + 1;
  }
  kept.push(raw.subarray(dropping ? end : runStart));
  return kept;
}

/** Removes the header fields named in `names` (with their folded continuation lines). */
export function removeHeaderFields(raw: Buffer, names: readonly string[]): Buffer {
  return Buffer.concat(keptSlices(raw, names));
}

/**
 * The message with foreign status headers removed and ours prepended (CRLF,
 * like the rest of a well-formed message): the one copy of the message.
 */
export function applyStatusHeaders(raw: Buffer, status: MessageStatus): Buffer {
  const eol = raw.indexOf('\r\n') !== -1 || raw.length === 0 ? '\r\n' : '\n';
  const ours = Buffer.from(
    `X-Sealmail-Encryption: ${status.encryption}${eol}X-Sealmail-Signature: ${status.signature}${eol}`,
    'latin1',
  );
  return Buffer.concat([ours, ...keptSlices(raw, STATUS_HEADERS)]);
}
