// Characters that render as, or are used by attackers in place of, a single quote. NFKC already
// folds the fullwidth apostrophe (U+FF07) to "'".
const quoteLookalikes = /[\u2018\u2019\u201a\u201b\u2032\u2035\u02b9\u02bc\u02bb\u02c8\u055a\ua78c]/g;
const entities: Record<string, string> = { apos: "'", quot: '"', lt: '<', gt: '>', amp: '&', nbsp: ' ' };

/**
 * Undoes the encodings attackers wrap an injection in, so one pattern sees them all: percent
 * encoding (repeated, so `%2527` becomes `'`), `%u`/`\u` plus four hex digits and `\x` plus two, HTML
 * entities, Unicode compatibility forms (NFKC) and quote look-alikes (U+2019, U+02BC …). Text
 * with none of these comes back unchanged without copying.
 *
 * @example
 * decodeForMatch('%2527%20OR%20%271%27%3D%271'); // "' OR '1'='1"
 */
export function decodeForMatch(text: string): string {
  let out = text;
  if (out.includes('%')) {
    for (let round = 0; round < 4; round += 1) {
      const next = out
        .replace(/%u([0-9a-f]{4})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
        .replace(/%([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
      if (next === out) break;
      out = next;
    }
  }
  if (out.includes('\\')) {
    out = out
      .replace(/\\u([0-9a-f]{4})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
      .replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
  if (out.includes('&')) {
    out = out.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (whole, body: string) => {
      if (body[0] === '#') {
        const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return entities[body.toLowerCase()] ?? whole;
    });
  }
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(out)) out = out.normalize('NFKC').replace(quoteLookalikes, "'");
  return out;
}
