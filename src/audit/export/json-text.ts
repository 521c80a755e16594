/**
 * A JSON number kept as the text it was written with. PostgreSQL's jsonb keeps numbers as exact
 * decimals (a bigint column, 1.50); JavaScript numbers would round or respell them, and an
 * exported record must say exactly what its leaf says.
 *
 * @example
 * new JsonNumber('9007199254740993').text; // '9007199254740993', not …992
 */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** A parsed JSON value: objects keep their key order (a Map), numbers their text. */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
/** A JSON object in key order. */
export type JsonObject = Map<string, JsonValue>;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
// A JSON string token: no raw control characters, escapes checked by JSON.parse below.
// eslint-disable-next-line no-control-regex -- excluding raw control characters is the point
const STRING = /"(?:[^"\\\u0000-\u001f]|\\.)*"/y;
const WHITESPACE = /[ \t\n\r]*/y;
const MAX_DEPTH = 256;

class JsonSyntaxError extends Error {}

/**
 * Parses JSON without losing anything JavaScript's `JSON.parse` would: numbers stay as their
 * text, object keys keep their order, and a repeated key is an error rather than silently
 * overwritten. Throws a `SyntaxError` on anything that is not exactly one JSON value.
 *
 * @example
 * const value = parseJsonText('{"id": 12345678901234567890}');
 * (value as JsonObject).get('id'); // JsonNumber { text: '12345678901234567890' }
 */
export function parseJsonText(text: string): JsonValue {
  let at = 0;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at offset ${at}`);
  };
  const skip = () => {
    WHITESPACE.lastIndex = at;
    WHITESPACE.exec(text);
    at = WHITESPACE.lastIndex;
  };
  const token = (re: RegExp): string | null => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return null;
    at = re.lastIndex;
    return m[0];
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    skip();
    const c = text[at];
    if (c === '{') {
      at += 1;
      const object: JsonObject = new Map();
      skip();
      if (text[at] === '}') {
        at += 1;
        return object;
      }
      for (;;) {
        skip();
        const key = token(STRING) ?? fail('expected a string key');
        const name = JSON.parse(key) as string;
        if (object.has(name)) fail(`repeated key ${key}`);
        skip();
        if (text[at] !== ':') fail('expected ":"');
        at += 1;
        object.set(name, value(depth + 1));
        skip();
        if (text[at] === ',') at += 1;
        else if (text[at] === '}') {
          at += 1;
          return object;
        } else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      at += 1;
      const array: JsonValue[] = [];
      skip();
      if (text[at] === ']') {
        at += 1;
        return array;
      }
      for (;;) {
        array.push(value(depth + 1));
        skip();
        if (text[at] === ',') at += 1;
        else if (text[at] === ']') {
          at += 1;
          return array;
        } else fail('expected "," or "]"');
      }
    }
    if (c === '"') return JSON.parse(token(STRING) ?? fail('bad string')) as string;
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return v;
      }
    }
    return new JsonNumber(token(NUMBER) ?? fail('unexpected character'));
  };
  try {
    const result = value(0);
    skip();
    if (at !== text.length) fail('trailing characters');
    return result;
  } catch (err) {
    // JSON.parse of a bad escape inside a string token throws its own SyntaxError.
    if (err instanceof JsonSyntaxError || err instanceof SyntaxError) throw new SyntaxError(err.message);
    throw err;
  }
}

/**
 * Writes a parsed value back as compact JSON: numbers as their text, keys in their order.
 *
 * @example
 * stringifyJsonText(parseJsonText('{"a": 1.50}')); // '{"a":1.50}'
 */
export function stringifyJsonText(value: JsonValue): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(stringifyJsonText).join(',')}]`;
  return `{${[...value].map(([k, v]) => `${JSON.stringify(k)}:${stringifyJsonText(v)}`).join(',')}}`;
}

/**
 * Deep equality of parsed values: numbers compare by their text, objects by their keys in any
 * order.
 *
 * @example
 * jsonTextEqual(parseJsonText('{"a":1,"b":2}'), parseJsonText('{"b":2,"a":1}')); // true
 */
export function jsonTextEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === null || typeof a !== 'object') return a === b;
  if (a instanceof JsonNumber) return b instanceof JsonNumber && a.text === b.text;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonTextEqual(v, b[i]!));
  }
  if (!(b instanceof Map) || a.size !== b.size) return false;
  for (const [k, v] of a) {
    const other = b.get(k);
    if (other === undefined || !jsonTextEqual(v, other)) return false;
  }
  return true;
}
