// What the wire parser (src/imap/wire) hands to command parsers: the generic
// token tree of one command's arguments (RFC 3501 9, formal syntax). Command
// files interpret these tokens into their own argument types.

/** An atom: flags (\Seen), numbers, sequence sets, NIL, keywords, search keys... */
export interface AtomToken {
  type: 'atom';
  value: string;
  /**
   * Present for fetch attributes written with a section, e.g.
   * BODY[HEADER.FIELDS (From To)]<0.100> -> value "BODY", section [atom
   * HEADER.FIELDS, list(From, To)], partial {start: 0, length: 100}.
   * `section` is [] for BODY[].
   */
  section?: Token[];
  partial?: { start: number; length: number };
}

/** A quoted string or a literal ({n} / {n+} / ~{n} for BINARY). */
export interface StringToken {
  type: 'string';
  value: Buffer;
  /** How it arrived on the wire. */
  form: 'quoted' | 'literal' | 'literal8';
}

export interface ListToken {
  type: 'list';
  items: Token[];
}

export type Token = AtomToken | StringToken | ListToken;

/** One complete command line (with its literals) as parsed from the wire. */
export interface ParsedCommand {
  tag: string;
  /** Upper-cased command name; "UID FETCH" etc. for UID commands. */
  name: string;
  args: Token[];
}

/** Text value of an atom or string token (astring, RFC 3501 9), or null for other tokens. */
export function tokenText(token: Token | undefined): string | null {
  if (!token) return null;
  if (token.type === 'atom') return token.value;
  if (token.type === 'string') return token.value.toString('utf8');
  return null;
}
