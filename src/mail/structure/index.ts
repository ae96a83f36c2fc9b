// The structure document of a message: analyzeMessage() for a Buffer,
// analyzeStream() for a stream of chunks (bounded memory: offsets and header
// blocks only). Never throws on malformed mail: the result is the best
// structure that can be derived, with Dovecot as the reference.
import { renderEnvelope, renderRootBody } from './render.js';
import { searchFields } from './search.js';
import { listingHeader } from './listing.js';
import { MimeSplitter } from './splitter.js';
import type { MessageStructure } from './types.js';

export type { MessageStructure, PartNode, SearchFields } from './types.js';

/** Schema version of the structure document: bump when the derivation changes. */
export const STRUCTURE_VERSION = 1;

/** Chunk size used to feed a Buffer through the splitter. */
const FEED = 64 * 1024;

function finish(splitter: MimeSplitter, size: number): MessageStructure {
  const root = splitter.end();
  const fields = splitter.extras.messageFields.get(root) ?? [];
  return {
    v: STRUCTURE_VERSION,
    size,
    root,
    imap: {
      envelope: renderEnvelope(fields),
      bodystructure: renderRootBody(root, splitter.extras, true),
      body: renderRootBody(root, splitter.extras, false),
    },
    search: searchFields(fields),
    ...(splitter.extras.rootHeader ? { listing: listingHeader(splitter.extras.rootHeader).toString('latin1') } : {}),
  };
}

/** Analyzes a complete message. */
export function analyzeMessage(raw: Buffer): MessageStructure {
  const splitter = new MimeSplitter();
  for (let pos = 0; pos < raw.length; pos += FEED) splitter.write(raw.subarray(pos, Math.min(raw.length, pos + FEED)));
  return finish(splitter, raw.length);
}

/** Analyzes a message arriving as chunks; never holds the whole body. */
export async function analyzeStream(source: AsyncIterable<Buffer | Uint8Array | string>): Promise<MessageStructure> {
  const splitter = new MimeSplitter();
  let size = 0;
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += buf.length;
    splitter.write(buf);
  }
  return finish(splitter, size);
}
