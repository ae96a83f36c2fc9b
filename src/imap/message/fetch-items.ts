// FETCH data items (RFC 3501 6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE):
// parsing the attribute token(s) into a list of items, and the labels they
// carry in FETCH responses (RFC 3501 7.4.2).
import type { Token } from '../wire/tokens.js';
import { bad } from '../errors.js';
import { LISTING_FIELDS } from '../../mail/store/summary-cache.js';

/** The text part of a section: RFC 3501 9, section-msgtext / "MIME". */
export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part numbers, e.g. [1, 2] for "1.2"; [] for the message itself. */
  part: number[];
  text: SectionText | null;
  /** Upper-cased field names of HEADER.FIELDS[.NOT]. */
  fields?: string[];
}

export type SimpleItem = 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'MODSEQ';

export type FetchItem =
  | { kind: 'simple'; name: SimpleItem }
  | {
      /** BODY[...], BINARY[...] and the RFC822, RFC822.HEADER, RFC822.TEXT shorthands. */
      kind: 'section';
      binary: boolean;
      /** Sets \Seen (RFC 3501 6.4.5): BODY[], RFC822, RFC822.TEXT, BINARY[] — not .PEEK, not RFC822.HEADER. */
      setsSeen: boolean;
      section: SectionSpec;
      partial?: { start: number; length: number };
      /** How the response names it: "BODY[HEADER]", "RFC822", "BINARY[1]". */
      label: string;
    }
  | { kind: 'binary.size'; part: number[]; label: string };

export interface FetchRequest {
  items: FetchItem[];
  /** CHANGEDSINCE modifier (RFC 7162 3.1.4). */
  changedSince?: number;
  /** VANISHED modifier (RFC 7162 3.2.6), UID FETCH only. */
  vanished: boolean;
}

const MACROS: Record<string, SimpleItem[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const SIMPLE = new Set<string>(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'MODSEQ']);

function atomOf(token: Token | undefined, what: string): string {
  if (!token || token.type !== 'atom') throw bad(`Invalid ${what}`);
  return token.value;
}

/** Parses the section tokens of BODY[...] (RFC 3501 9: section-spec). */
export function parseSection(tokens: Token[]): SectionSpec {
  if (tokens.length === 0) return { part: [], text: null };
  const head = atomOf(tokens[0], 'section').toUpperCase();
  const parts = head.split('.');
  const part: number[] = [];
  while (parts.length > 0 && /^[0-9]+$/.test(parts[0]!)) {
    const n = parts.shift()!;
    if (!/^[1-9][0-9]*$/.test(n)) throw bad(`Invalid section: ${head}`);
    part.push(Number(n));
  }
  const text = parts.join('.');
  if (text === '') {
    if (tokens.length !== 1) throw bad(`Invalid section: ${head}`);
    return { part, text: null };
  }
  if (text === 'MIME' && part.length === 0) throw bad('MIME needs a part number');
  if (text === 'HEADER' || text === 'TEXT' || text === 'MIME') {
    if (tokens.length !== 1) throw bad(`Invalid section: ${head}`);
    return { part, text };
  }
  if (text === 'HEADER.FIELDS' || text === 'HEADER.FIELDS.NOT') {
    const list = tokens[1];
    if (tokens.length !== 2 || !list || list.type !== 'list' || list.items.length === 0) {
      throw bad(`${text} needs a list of header names`);
    }
    const fields = list.items.map((t) => {
      const name = t.type === 'list' ? null : t.type === 'atom' ? t.value : t.value.toString('utf8');
      if (!name || !/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw bad('Invalid header field name');
      return name.toUpperCase();
    });
    return { part, text, fields };
  }
  throw bad(`Invalid section: ${head}`);
}

/** "1.2.HEADER.FIELDS (FROM TO)" — the section as the response echoes it. */
export function formatSection(section: SectionSpec): string {
  const words: string[] = [];
  if (section.part.length > 0) words.push(section.part.join('.'));
  if (section.text) words.push(section.text);
  const spec = words.join('.');
  return section.fields ? `${spec} (${section.fields.join(' ')})` : spec;
}

function parseItem(token: Token, out: FetchItem[]): void {
  const name = atomOf(token, 'fetch attribute').toUpperCase();
  const atom = token as Extract<Token, { type: 'atom' }>;
  if (atom.section === undefined) {
    if (atom.partial) throw bad(`Invalid fetch attribute: ${name}`);
    if (SIMPLE.has(name)) return void out.push({ kind: 'simple', name: name as SimpleItem });
    if (name === 'BODY') return void out.push({ kind: 'simple', name: 'BODY' });
    if (name === 'RFC822') return void out.push(section(false, true, { part: [], text: null }, 'RFC822'));
    if (name === 'RFC822.HEADER') return void out.push(section(false, false, { part: [], text: 'HEADER' }, 'RFC822.HEADER'));
    if (name === 'RFC822.TEXT') return void out.push(section(false, true, { part: [], text: 'TEXT' }, 'RFC822.TEXT'));
    throw bad(`Unknown fetch attribute: ${name}`);
  }
  const spec = parseSection(atom.section);
  if (name === 'BODY' || name === 'BODY.PEEK') {
    const item = section(false, name === 'BODY', spec, `BODY[${formatSection(spec)}]`);
    if (atom.partial) item.partial = checkPartial(atom.partial);
    return void out.push(item);
  }
  if (name === 'BINARY' || name === 'BINARY.PEEK' || name === 'BINARY.SIZE') {
    // RFC 3516 4.1: BINARY takes only a part number (section-binary).
    if (spec.text !== null) throw bad(`Invalid ${name} section`);
    if (name === 'BINARY.SIZE') {
      if (atom.partial) throw bad('BINARY.SIZE takes no partial');
      return void out.push({ kind: 'binary.size', part: spec.part, label: `BINARY.SIZE[${formatSection(spec)}]` });
    }
    const item = section(true, name === 'BINARY', spec, `BINARY[${formatSection(spec)}]`);
    if (atom.partial) item.partial = checkPartial(atom.partial);
    return void out.push(item);
  }
  throw bad(`Unknown fetch attribute: ${name}`);
}

function section(binary: boolean, setsSeen: boolean, spec: SectionSpec, label: string): Extract<FetchItem, { kind: 'section' }> {
  return { kind: 'section', binary, setsSeen, section: spec, label };
}

function checkPartial(p: { start: number; length: number }): { start: number; length: number } {
  if (!Number.isSafeInteger(p.start) || !Number.isSafeInteger(p.length) || p.start < 0 || p.length < 1) {
    throw bad('Invalid partial');
  }
  return p;
}

/**
 * Parses FETCH's arguments after the sequence set: one attribute, a macro, or
 * a parenthesised list, then optional modifiers "(CHANGEDSINCE n [VANISHED])".
 */
export function parseFetchRequest(args: Token[], opts: { uid: boolean }): FetchRequest {
  const [attrs, modifiers, ...rest] = args;
  if (!attrs || rest.length > 0) throw bad('FETCH needs a sequence set and data items');
  const items: FetchItem[] = [];
  if (attrs.type === 'list') {
    if (attrs.items.length === 0) throw bad('Empty FETCH attribute list');
    for (const t of attrs.items) parseItem(t, items);
  } else {
    const macro = attrs.type === 'atom' && attrs.section === undefined ? MACROS[attrs.value.toUpperCase()] : undefined;
    if (macro) for (const name of macro) items.push({ kind: 'simple', name });
    else parseItem(attrs, items);
  }
  const request: FetchRequest = { items, vanished: false };
  if (modifiers) parseModifiers(modifiers, request, opts.uid);
  // RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ in every response.
  if (request.changedSince !== undefined && !hasSimple(request, 'MODSEQ')) items.push({ kind: 'simple', name: 'MODSEQ' });
  return request;
}

function parseModifiers(token: Token, request: FetchRequest, uid: boolean): void {
  if (token.type !== 'list' || token.items.length === 0) throw bad('Invalid FETCH modifiers');
  const items = token.items;
  for (let i = 0; i < items.length; i++) {
    const name = atomOf(items[i], 'FETCH modifier').toUpperCase();
    if (name === 'CHANGEDSINCE') {
      const value = atomOf(items[++i], 'CHANGEDSINCE value');
      if (!/^[0-9]+$/.test(value) || request.changedSince !== undefined) throw bad('Invalid CHANGEDSINCE');
      request.changedSince = Number(value);
    } else if (name === 'VANISHED') {
      // RFC 7162 3.2.6: only in UID FETCH and only together with CHANGEDSINCE.
      if (!uid) throw bad('VANISHED is only allowed in UID FETCH');
      request.vanished = true;
    } else {
      throw bad(`Unknown FETCH modifier: ${name}`);
    }
  }
  if (request.vanished && request.changedSince === undefined) throw bad('VANISHED needs CHANGEDSINCE');
}

export function hasSimple(request: FetchRequest, name: SimpleItem): boolean {
  return request.items.some((i) => i.kind === 'simple' && i.name === name);
}

/** BODY[], BODY.PEEK[], RFC822 (with or without a partial): the message's bytes 0..RFC822.SIZE, which needs no structure. */
export function isWholeMessage(item: FetchItem): boolean {
  return item.kind === 'section' && !item.binary && item.section.part.length === 0 && item.section.text === null;
}

/**
 * BODY[.PEEK][HEADER.FIELDS (...)] of the message itself with only names the
 * summary cache keeps the lines of (LISTING_FIELDS): a folder listing's
 * headers, answered without reading the message once cached.
 */
export function isListingFields(item: FetchItem): boolean {
  return (
    item.kind === 'section' &&
    !item.binary &&
    item.section.part.length === 0 &&
    item.section.text === 'HEADER.FIELDS' &&
    (item.section.fields ?? []).every((f) => LISTING_FIELDS.has(f.toLowerCase()))
  );
}

/**
 * What of the structure document a request needs: nothing, only the
 * pre-rendered ENVELOPE/BODY/BODYSTRUCTURE, those and the listing header
 * lines, or the MIME tree (other sections).
 */
export function structureNeeds(request: FetchRequest): 'none' | 'rendered' | 'listing' | 'tree' {
  const sections = request.items.filter((i) => i.kind !== 'simple' && !isWholeMessage(i));
  if (sections.length > 0) return sections.every(isListingFields) ? 'listing' : 'tree';
  return request.items.some((i) => i.kind === 'simple' && (i.name === 'ENVELOPE' || i.name === 'BODY' || i.name === 'BODYSTRUCTURE')) ? 'rendered' : 'none';
}
