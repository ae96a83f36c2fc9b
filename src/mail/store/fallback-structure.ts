// The structure of last resort, used only when the MIME analyzer fails on a
// message: the whole message as one text/plain body with no header, so the
// message is still listed and served byte-exact (BODY[] and RFC822.SIZE).
import type { MessageStructure } from '../structure/types.js';

export function fallbackStructure(size: number): MessageStructure {
  const body = `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ${size} 0)`;
  return {
    v: 0,
    size,
    root: {
      path: '',
      headerStart: 0,
      headerEnd: 0,
      bodyStart: 0,
      bodyEnd: size,
      type: 'text',
      subtype: 'plain',
      params: { charset: 'us-ascii' },
      id: null,
      description: null,
      encoding: '7bit',
      lines: 0,
      md5: null,
      disposition: null,
      language: null,
      location: null,
    },
    imap: {
      envelope: '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)',
      bodystructure: `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" ${size} 0 NIL NIL NIL NIL)`,
      body,
    },
    search: { from: '', to: '', cc: '', bcc: '', subject: '', sentDate: null, messageId: null, headerNames: [] },
  };
}
