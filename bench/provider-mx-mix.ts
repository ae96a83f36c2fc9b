// The message mix of bench/provider-mx.ts, shared with its sender process:
// log-normal sizes (median 15 KB, mean ~110 KB) as deterministic quantiles,
// and plausible messages of those sizes.
import crypto from 'node:crypto';

const MEDIAN = 15 * 1024;
const MEAN = 110 * 1024;

// Inverse standard normal CDF (Acklam's rational approximation), for
// deterministic log-normal quantiles instead of random draws.
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  // Computed for the lower half (x <= 0) and mirrored for the upper half.
  const q = Math.min(p, 1 - p);
  let x: number;
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    x = (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
  } else {
    const r = q - 0.5;
    const s = r * r;
    x = ((((((a[0]! * s + a[1]!) * s + a[2]!) * s + a[3]!) * s + a[4]!) * s + a[5]!) * r) / (((((b[0]! * s + b[1]!) * s + b[2]!) * s + b[3]!) * s + b[4]!) * s + 1);
  }
  return p < 0.5 ? x : -x;
}

/** n sizes: log-normal quantiles with the given median and mean, in a shuffled order. */
export function sizeMix(n: number): number[] {
  const mu = Math.log(MEDIAN);
  const sigma = Math.sqrt(2 * Math.log(MEAN / MEDIAN));
  const sizes = Array.from({ length: n }, (_, i) => Math.round(Math.exp(mu + sigma * probit((i + 0.5) / n))));
  let seed = 42;
  for (let i = sizes.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [sizes[i], sizes[j]] = [sizes[j]!, sizes[i]!];
  }
  return sizes;
}

/** A plausible message of about `size` bytes: headers and a base64 body in 76-column lines. */
export function message(i: number, size: number): Buffer {
  const head = `From: Sender ${i} <sender${i}@outside.net>\r\nTo: alice@example.org\r\nSubject: benchmark message ${i}\r\nMessage-ID: <${i}.bench@outside.net>\r\nDate: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
  const bodyLen = Math.max(0, size - head.length);
  const b64 = crypto.randomBytes(Math.ceil((bodyLen * 3) / 4)).toString('base64').slice(0, bodyLen);
  return Buffer.from(head + (b64.match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n');
}

