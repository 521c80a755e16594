// The lexer of policy expressions as pg_get_expr prints them (see rls-policy-expr.ts).

/** One lexical token of a printed expression. */
export interface Token {
  kind: 'ident' | 'qident' | 'string' | 'number' | 'op' | 'punct';
  /** Identifiers unquoted ("a""b" → a"b), strings unescaped, everything else as printed. */
  value: string;
}

const opChars = new Set('+-*/<>=~!@#%^&|`?');

/**
 * Splits a printed expression into tokens: strings and quoted identifiers unescaped, `::` kept
 * apart from operators, parentheses and brackets as punctuation.
 *
 * @example
 * tokenize("(a = 'x''y'::text)").map((t) => t.value); // ['(', 'a', '=', "x'y", '::', 'text', ')']
 */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const quoted = (q: string): string => {
    let s = '';
    i++;
    for (;;) {
      if (i >= text.length) throw new Error(`unterminated ${q} in policy expression`);
      if (text[i] === q) {
        if (text[i + 1] === q) {
          s += q;
          i += 2;
          continue;
        }
        i++;
        return s;
      }
      s += text[i++];
    }
  };
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      out.push({ kind: 'string', value: quoted("'") });
    } else if (c === '"') {
      out.push({ kind: 'qident', value: quoted('"') });
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i))![0];
      i += m.length;
      // E'…', B'…', X'…': a prefixed string constant.
      if (m.length === 1 && text[i] === "'" && /[EeBbXx]/.test(m)) out.push({ kind: 'string', value: quoted("'") });
      else out.push({ kind: 'ident', value: m });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i))![0];
      i += m.length;
      out.push({ kind: 'number', value: m });
    } else if (c === ':' && text[i + 1] === ':') {
      out.push({ kind: 'punct', value: '::' });
      i += 2;
    } else if (opChars.has(c)) {
      let j = i;
      while (j < text.length && opChars.has(text[j]!)) j++;
      out.push({ kind: 'op', value: text.slice(i, j) });
      i = j;
    } else {
      out.push({ kind: 'punct', value: c });
      i++;
    }
  }
  return out;
}
