// What counts as an email address / UPN in a mapping row, and how two of them
// compare. Permissive where directories differ (any script, apostrophes, plus
// signs), strict on what would break a mapping: one @, a dotted domain of valid
// labels, nothing a CSV cell or a terminal would misread (spaces, commas,
// quotes, angle brackets, control characters, undecodable bytes).

const MAX_EMAIL = 254;
const MAX_LOCAL = 64;

const SPECIALS = "!#$%&'*+/=?^_`{|}~-";
const ATEXT = `A-Za-z0-9${SPECIALS}`;
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const ASCII_EMAIL = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*@(?:${LABEL}\\.)+${LABEL}$`);

const U_ATEXT = `\\p{L}\\p{M}\\p{N}${SPECIALS}`;
const U_ALNUM = '[\\p{L}\\p{M}\\p{N}]';
const U_LABEL = `${U_ALNUM}(?:[\\p{L}\\p{M}\\p{N}-]{0,61}${U_ALNUM})?`;
const UNICODE_EMAIL = new RegExp(`^[${U_ATEXT}]+(?:\\.[${U_ATEXT}]+)*@(?:${U_LABEL}\\.)+${U_LABEL}$`, 'u');
const NON_ASCII = /[^\x00-\x7f]/;
const DIGITS = /^[0-9]+$/;

export function isEmail(text: string): boolean {
  if (text.length < 5 || text.length > MAX_EMAIL) return false;
  const at = text.indexOf('@');
  if (at < 1 || at > MAX_LOCAL) return false;
  if (!(ASCII_EMAIL.test(text) || (NON_ASCII.test(text) && UNICODE_EMAIL.test(text)))) return false;
  const tld = text.slice(text.lastIndexOf('.') + 1);
  return tld.length >= 2 && !DIGITS.test(tld);
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
