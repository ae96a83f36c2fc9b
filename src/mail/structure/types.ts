// The structure document: everything derived from a message's bytes, computed
// once when the message is stored (never per FETCH). See DESIGN.md "Documents".
// Owned by the mail data model (src/mail/structure); read by src/imap.

/** One MIME node with byte offsets into the raw message (RFC 3501 6.4.5 section numbering). */
export interface PartNode {
  /** IMAP section path: "" for the message itself, "1", "1.2", ... */
  path: string;
  /** Byte range of this node's header block (including the blank line that ends it). */
  headerStart: number;
  headerEnd: number;
  /** Byte range of this node's body (bodyStart === headerEnd). */
  bodyStart: number;
  bodyEnd: number;
  /** Lower-cased type and subtype, with the RFC 2045 defaults applied. */
  type: string;
  subtype: string;
  /** Content-Type parameters (names lower-cased, values decoded per RFC 2231). */
  params: Record<string, string>;
  id: string | null;
  description: string | null;
  /**
   * Lower-cased Content-Transfer-Encoding, how the body is decoded (BINARY).
   * For a message header that is not MIME (no MIME-Version, no Content-Type)
   * BODYSTRUCTURE reports "7bit" while this keeps the header's value.
   */
  encoding: string;
  /** Body line count, for text/* and message/rfc822. */
  lines: number | null;
  md5: string | null;
  disposition: { type: string; params: Record<string, string> } | null;
  language: string[] | null;
  location: string | null;
  /** Sub-parts of a multipart. */
  children?: PartNode[];
  /** The encapsulated message of a message/rfc822 part (its header starts at bodyStart). */
  message?: PartNode;
}

/** Decoded values SEARCH needs (RFC 3501 6.4.4), computed once at store time. */
export interface SearchFields {
  from: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  /** Date: header as epoch ms (null when absent or unparseable). */
  sentDate: number | null;
  messageId: string | null;
  /** Header field names present (lower-cased) — for SEARCH HEADER. */
  headerNames: string[];
}

export interface MessageStructure {
  /** Schema version of this document, so a later parser can recompute old ones. */
  v: number;
  /** Total size in bytes (RFC822.SIZE). */
  size: number;
  /** The MIME tree with byte offsets. */
  root: PartNode;
  /** Pre-rendered IMAP strings (RFC 3501 7.4.2), so FETCH only concatenates. */
  imap: {
    envelope: string;
    /** BODYSTRUCTURE, with extension data. */
    bodystructure: string;
    /** BODY (non-extensible form). */
    body: string;
  };
  search: SearchFields;
  /**
   * The root header's lines of the fields clients list folders with
   * (listing.ts), as a byte string (one char per byte): a folder listing's
   * HEADER.FIELDS need no read of the message. Absent in structures derived
   * before it existed, and when the header was too big to keep.
   */
  listing?: string;
}
