// FETCH and UID FETCH (RFC 3501 6.4.5, 6.4.8; RFC 3516 BINARY; RFC 7162 3.1.4
// CHANGEDSINCE, 3.2.6 VANISHED). Structure documents are loaded a few messages
// ahead of the one being written, and responses go out in small batches so a
// 10k-message FETCH neither waits on each write nor builds up in memory. A
// folder listing (ENVELOPE, or the header fields clients list with) is served
// from the summary cache; a message missing there is read once and cached.
import type { Readable } from 'node:stream';
import type { MessageMeta } from '../../mail/mailstore.js';
import { defineCommand, type CommandSpec } from '../command.js';
import { bad } from '../errors.js';
import { untagged, type Response } from '../response/responses.js';
import { atom, num } from '../response/values.js';
import type { ImapSession } from '../session.js';
import type { Token } from '../wire/tokens.js';
import { hasSimple, isListingFields, parseFetchRequest, structureNeeds, type FetchRequest } from '../message/fetch-items.js';
import { buildFetchData, type FetchMessage } from '../message/fetch-response.js';
import { renderedCache, type Rendered } from '../message/rendered-cache.js';
import type { MessageStructure } from '../../mail/structure/types.js';
import { condstoreEnabled, enableCondstore, resolveMessages, selectedMailbox, sequenceSetArg, type SelectedMessage } from '../message/selection.js';
import { formatSequenceSet, type SequenceSet } from '../message/sequence-set.js';

interface FetchArgs {
  set: SequenceSet;
  request: FetchRequest;
}

/**
 * Messages whose content is prepared ahead of the one being written. A
 * listing (no section but the listing's header fields) reads at most one
 * small structure document per message not in the summary cache, and the
 * more of those reads are under way at once, the more share each LevelDB
 * round trip (src/soledad/get-batching-down.ts): a 10,000-message ENVELOPE
 * listing of mail never listed on this device took 480–700 ms with 128
 * against 650–880 ms with 32 (BENCHMARKS.md, "IMAP listings"). Sections up
 * to INLINE_MAX are held in memory while they wait to be written, so a
 * FETCH of bodies keeps 32.
 */
const PREFETCH_LISTING = 128;
const PREFETCH_SECTIONS = 32;
/** Responses handed to the writer at once. */
const BATCH = 64;

function parse(uid: boolean) {
  return (args: Token[], session: ImapSession): FetchArgs => {
    const [setToken, ...rest] = args;
    const request = parseFetchRequest(rest, { uid });
    if (request.vanished && !session.enabled.has('QRESYNC')) throw bad('VANISHED needs QRESYNC enabled');
    return { set: sequenceSetArg(setToken), request };
  };
}

/** RFC 3501 6.4.5: BODY[...] without PEEK (and RFC822, RFC822.TEXT, BINARY) sets \Seen — not in a read-only mailbox. */
async function setImplicitSeen(session: ImapSession, messages: SelectedMessage[]): Promise<Set<number>> {
  const selected = session.selected!;
  const unseen = messages.filter((m) => !m.meta.flags.some((f) => f.toLowerCase() === '\\seen')).map((m) => m.meta.uid);
  if (unseen.length === 0) return new Set();
  const result = await session.store.storeFlags(selected.info.name, unseen, 'add', ['\\Seen']);
  const changed = new Set<number>();
  for (const meta of result.updated) {
    if (selected.updateMessage(meta) !== undefined) changed.add(meta.uid);
  }
  for (const m of messages) {
    if (changed.has(m.meta.uid)) m.meta = selected.meta(m.meta.uid) ?? m.meta;
  }
  return changed;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** RFC 7162 3.2.6: UIDs in the set that are no longer in the mailbox (we keep no tombstones, so possibly never used). */
function vanishedUids(set: SequenceSet, view: MessageMeta[], uidNext: number): number[] {
  const present = new Set(view.map((m) => m.uid));
  const last = uidNext - 1;
  const out = new Set<number>();
  for (const range of set) {
    const a = range.from === '*' ? last : range.from;
    const b = range.to === '*' ? last : range.to;
    for (let uid = Math.min(a, b); uid <= Math.min(Math.max(a, b), last); uid++) if (!present.has(uid)) out.add(uid);
  }
  return [...out].sort((x, y) => x - y);
}

async function handle(session: ImapSession, args: FetchArgs, uid: boolean): Promise<void> {
  const selected = selectedMailbox(session);
  const { request } = args;
  if (request.changedSince !== undefined || hasSimple(request, 'MODSEQ')) await enableCondstore(session);
  let messages = resolveMessages(selected, args.set, uid);
  if (request.changedSince !== undefined) messages = messages.filter((m) => m.meta.modseq > request.changedSince!);
  if (request.vanished) {
    const gone = vanishedUids(args.set, selected.messages(), selected.info.uidNext);
    if (gone.length > 0) await session.send(untagged(atom('VANISHED'), atom('(EARLIER)'), atom(formatSequenceSet(gone))));
  }
  const setsSeen = !selected.readOnly && request.items.some((i) => i.kind === 'section' && i.setsSeen);
  const seenChanged = setsSeen ? await setImplicitSeen(session, messages) : new Set<number>();
  const wantsFlags = hasSimple(request, 'FLAGS');
  // RFC 7162 3.2: with CONDSTORE on, a FETCH that reports changed flags also reports MODSEQ.
  const addModseq = condstoreEnabled(session) && seenChanged.size > 0 && !hasSimple(request, 'MODSEQ');
  const needs = structureNeeds(request);
  const store = session.store;
  const cache = renderedCache(store);
  const content = async (meta: MessageMeta): Promise<FetchMessage> => {
    if (needs === 'none') return { meta };
    if (needs === 'rendered' || needs === 'listing') {
      // Right after a start the persisted summaries may still be loading: waiting for them beats a structure read.
      const hit = cache.get(meta.hash) ?? (await cache.loaded, cache.get(meta.hash));
      if (hit && (needs === 'rendered' || hit.listing)) return { meta, rendered: hit, listing: hit.listing };
      if (needs === 'listing') return listingOf(meta, hit);
    }
    const structure = await store.structure(meta.hash);
    return { meta, structure, rendered: cache.put(meta.hash, structure) };
  };
  /** The listing header lines of a message not cached with them: its header is read once (no structure read when its size is known). */
  const listingOf = async (meta: MessageMeta, hit: Rendered | undefined): Promise<FetchMessage> => {
    let rendered = hit;
    let structure: MessageStructure | undefined;
    if (rendered?.headerSize === undefined) {
      structure = await store.structure(meta.hash);
      rendered = cache.put(meta.hash, structure);
    }
    // Structures derived since the listing lines exist carry them; for older ones the header is read.
    if (rendered.listing || rendered.headerSize === undefined) return { meta, structure, rendered, listing: rendered.listing };
    const header = rendered.headerSize > 0 ? await readAll(store.read(meta.hash, 0, rendered.headerSize)) : Buffer.alloc(0);
    return { meta, structure, rendered, listing: cache.setListing(meta.hash, header) };
  };

  const prefetch = request.items.every((i) => i.kind === 'simple' || isListingFields(i)) ? PREFETCH_LISTING : PREFETCH_SECTIONS;
  const loads: Array<Promise<Response>> = [];
  const load = (m: SelectedMessage): Promise<Response> =>
    (async () => {
      const msg = await content(m.meta);
      const changed = seenChanged.has(m.meta.uid);
      const req = changed && addModseq ? { ...request, items: [...request.items, { kind: 'simple' as const, name: 'MODSEQ' as const }] } : request;
      const data = await buildFetchData(store, req, msg, { uid, addFlags: changed && !wantsFlags });
      return untagged(num(m.seq), atom('FETCH'), data);
    })();
  let next = 0;
  const fill = () => {
    while (next < messages.length && loads.length < prefetch) {
      const p = load(messages[next++]!);
      p.catch(() => undefined); // awaited below; this only keeps an early failure from being "unhandled"
      loads.push(p);
    }
  };
  fill();
  while (loads.length > 0) {
    const batch: Response[] = [];
    while (loads.length > 0 && batch.length < BATCH) {
      batch.push(await loads.shift()!);
      fill();
    }
    await session.send(...batch);
  }
}

export const commands: CommandSpec<FetchArgs>[] = [false, true].map((uid) =>
  defineCommand<FetchArgs>({
    name: uid ? 'UID FETCH' : 'FETCH',
    states: ['selected'],
    // RFC 3501 7.4.1: no EXPUNGE during FETCH; UID FETCH may see them.
    usesSequenceNumbers: !uid,
    capabilities: ['BINARY', { name: 'CONDSTORE', enableable: true }],
    parse: parse(uid),
    handle: (session, args) => handle(session, args, uid),
  }),
);
