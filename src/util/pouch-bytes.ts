// Attachment bytes as PouchDB should be given them. Its promise wrappers
// deep-clone every argument of an API call and copy each Buffer they find
// (a whole extra copy of an attachment per call; a put clones twice, once
// more in the bulkDocs it makes), while a plain Uint8Array passes through as
// is; its LevelDB adapter hashes and stores any byte array the same way.

/** A plain Uint8Array view over the Buffer's bytes (no copy), for PouchDB attachment data. */
export function pouchBytes(buf: Buffer): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
