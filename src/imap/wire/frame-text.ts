// Small facts about the lines of a command as the parser frames them: line
// ends, the literal marker a line may end with (RFC 3501 4.3 `{n}`, LITERAL+
// `{n+}` RFC 7888, literal8 `~{n}` RFC 3516), and the tag a malformed command
// is answered with.
import { LITERAL_MARKER } from './tokenizer.js';

export const LF = 0x0a;
export const CR = 0x0d;

export interface LiteralMarker {
  /** literal8 (`~{n}`). */
  binary: boolean;
  size: number;
  /** Synchronizing: the client waits for a "+" continuation (not `{n+}`). */
  sync: boolean;
}

/** The literal marker a line ends with, or null (only the line's last bytes can hold one). */
export function literalMarker(line: Buffer): LiteralMarker | null {
  const m = LITERAL_MARKER.exec(line.toString('latin1', Math.max(0, line.length - 32)));
  return m ? { binary: m[1] === '~', size: Number(m[2]), sync: m[3] !== '+' } : null;
}

/** The line without the literal marker it ends with, and without the space before it. */
export function beforeMarker(line: Buffer): Buffer {
  const marker = LITERAL_MARKER.exec(line.toString('latin1'))!;
  return line.subarray(0, marker.index).subarray(0, -1);
}

export function stripCR(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line;
}

/** The tag of a (possibly malformed) command, for its BAD response; "*" when there is none. */
export function tagOf(text: Buffer): string {
  const m = /^([!#-'+-[\]-z|~]+)(?: |$)/.exec(text.toString('latin1', 0, Math.min(text.length, 200)));
  return m && !m[1]!.includes('+') ? m[1]! : '*';
}
