// Soledad's error types. Each names what failed (a document id, never its
// content) so the daemon can report it; none carries key material.

/** Base class: anything the encrypted store refuses or cannot do. */
export class SoledadError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'SoledadError';
  }
}

/** The passphrase does not unwrap the storage secret. Nothing was changed. */
export class WrongPassphraseError extends SoledadError {
  constructor() {
    super('wrong passphrase: it does not unlock this account\'s storage secret (nothing was changed)', 'WRONG_PASSPHRASE');
    this.name = 'WrongPassphraseError';
  }
}

/**
 * A stored ciphertext failed authentication: it was altered, truncated, or
 * moved from another document id. Its content is never returned.
 */
export class DocumentIntegrityError extends SoledadError {
  constructor(readonly docId: string, detail = 'authentication failed') {
    super(`document ${docId} failed its integrity check (${detail}): it was tampered with or moved from another id`, 'DOCUMENT_INTEGRITY');
    this.name = 'DocumentIntegrityError';
  }
}
