// What counts as an email address / UPN in a mapping row, and how two of them
// compare. Permissive where directories differ (any script, apostrophes, plus
// signs), strict on what would break a mapping: one @, a dotted domain of valid
// labels, nothing a CSV cell or a terminal would misread (spaces, commas,
// quotes, angle brackets, control characters, undecodable bytes).
//
// The rule, as a regular expression (EMAIL_PATTERN below), plus: at most 254
// characters, at most 64 before the @, and a top-level domain of two characters
// or more that is not all digits. ASCII addresses, nearly all of them, go
// through a hand-written scanner that is several times faster than the pattern
// and is tested to agree with it.

const MAX_EMAIL = 254;
const MAX_LOCAL = 64;
const MAX_LABEL = 63;

const SPECIALS = "!#$%&'*+/=?^_`{|}~-";
const ATEXT = `A-Za-z0-9${SPECIALS}`;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
/** The ASCII rule (the scanner below implements it). */
export const EMAIL_PATTERN = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*@(?:${LABEL}\\.)+${LABEL}$`);

const U_ATEXT = `\\p{L}\\p{M}\\p{N}${SPECIALS}`;
const U_ALNUM = '[\\p{L}\\p{M}\\p{N}]';
const U_LABEL = `${U_ALNUM}(?:[\\p{L}\\p{M}\\p{N}-]{0,61}${U_ALNUM})?`;
/** The same rule where letters and digits may be of any script. */
const UNICODE_EMAIL = new RegExp(`^[${U_ATEXT}]+(?:\\.[${U_ATEXT}]+)*@(?:${U_LABEL}\\.)+${U_LABEL}$`, 'u');
const NON_ASCII = /[^\p{ASCII}]/u;
const DIGITS = /^[0-9]+$/;

const ALNUM = 1;
const LOCAL_ONLY = 2;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c += 1) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch)) CLASS[c] = ALNUM;
  else if (SPECIALS.includes(ch) && ch !== '-') CLASS[c] = LOCAL_ONLY;
}
const DOT = 46;
const AT = 64;
const HYPHEN = 45;

/** true / false for an ASCII address; undefined when the text holds other characters. */
function scanAscii(text: string): boolean | undefined {
  const n = text.length;
  let i = 0;
  // Local part: atoms of atext separated by single dots.
  let atomLength = 0;
  for (; i < n; i += 1) {
    const c = text.charCodeAt(i);
    if (c > 127) return undefined;
    if (c === AT) break;
    if (c === DOT) {
      if (atomLength === 0) return false;
      atomLength = 0;
    } else if (CLASS[c] !== 0 || c === HYPHEN) atomLength += 1;
    else return false;
  }
  if (i === n || atomLength === 0 || i > MAX_LOCAL) return false;
  // Domain: two labels or more, each of letters, digits and inner hyphens.
  let labels = 0;
  let labelStart = i + 1;
  let allDigits = true;
  for (i += 1; i <= n; i += 1) {
    const c = i < n ? text.charCodeAt(i) : DOT;
    if (c > 127) return undefined;
    if (c === DOT) {
      const length = i - labelStart;
      if (length === 0 || length > MAX_LABEL) return false;
      if (text.charCodeAt(labelStart) === HYPHEN || text.charCodeAt(i - 1) === HYPHEN) return false;
      labels += 1;
      if (i === n) return labels >= 2 && length >= 2 && !allDigits;
      labelStart = i + 1;
      allDigits = true;
    } else if (CLASS[c] === ALNUM) {
      if (c < 48 || c > 57) allDigits = false;
    } else if (c !== HYPHEN) return false;
  }
  return false;
}

export function isEmail(text: string): boolean {
  if (text.length < 5 || text.length > MAX_EMAIL) return false;
  const ascii = scanAscii(text);
  if (ascii !== undefined) return ascii;
  if (!NON_ASCII.test(text) || !UNICODE_EMAIL.test(text)) return false;
  const at = text.indexOf('@');
  const tld = text.slice(text.lastIndexOf('.') + 1);
  return at <= MAX_LOCAL && tld.length >= 2 && !DIGITS.test(tld);
}

/** Same as comparing `toLowerCase()`s, without allocating for the usual ASCII addresses. */
export function equalsIgnoreCase(a: string, b: string): boolean {
  if (a === b) return true;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x > 127 || y > 127) return a.toLowerCase() === b.toLowerCase();
    if (x >= 65 && x <= 90) x += 32;
    if (y >= 65 && y <= 90) y += 32;
    if (x !== y) return false;
  }
  if (a.length === b.length) return true;
  // toLowerCase can change a non-ASCII string's length, so only an all-ASCII tail proves them different.
  return NON_ASCII.test(a) || NON_ASCII.test(b) ? a.toLowerCase() === b.toLowerCase() : false;
}
