// The MIME analyzer the store uses by default: src/mail/structure.
import { analyzeMessage, analyzeStream, STRUCTURE_VERSION } from '../structure/index.js';
import type { Analyzer } from './content.js';

export const defaultAnalyzer: Analyzer = {
  analyzeMessage,
  analyzeStream: (src) => analyzeStream(src),
  version: STRUCTURE_VERSION,
};
