import { type EventContext, eventContextNames, type MonitorEvent, normaliseUser } from '../event.js';

/** A value read from an event; undefined when the event does not carry the field. */
export type FieldValue = string | number | boolean | undefined;

/** Reads one field of an event. */
export type FieldGetter = (event: MonitorEvent) => FieldValue;

/** Thrown while compiling a rule; the loader turns it into PW602 naming the file, rule and field. */
export class RuleFieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'RuleFieldError';
  }
}

const topLevelFields = [
  'id',
  'source',
  'type',
  'severity',
  'user',
  'dbUser',
  'database',
  'addr',
  'addrBlock',
  'application',
  'tenant',
  'sqlstate',
  'message',
  'statement',
  'occurredAt',
  'time',
] as const;
type TopLevelField = (typeof topLevelFields)[number];
const topLevel = new Set<string>(topLevelFields);

/** The fields whose values are names of people or roles: grouped and counted normalised. */
const userFields = new Set(['user', 'dbUser']);

// Longest text a matcher looks at: a COPY payload in a statement must not stall the engine.
export const maxTextLength = 65_536;

/** A getter for a field path (`user`, `fields.reason`); RuleFieldError for an unknown one. */
export function fieldGetter(path: string): FieldGetter {
  if (path.startsWith('fields.') && path.length > 7) {
    const name = path.slice(7);
    return (e) => (Object.hasOwn(e.fields, name) ? e.fields[name] : undefined);
  }
  if (path.startsWith('context.')) {
    const name = path.slice(8) as keyof EventContext;
    if (!eventContextNames.includes(name)) {
      throw new RuleFieldError(
        path,
        `unknown context "${path}" (expected ${eventContextNames.map((n) => `context.${n}`).join(', ')})`,
      );
    }
    return (e) => e.context?.[name];
  }
  if (topLevel.has(path)) {
    const key = path as TopLevelField;
    return (e) => e[key];
  }
  throw new RuleFieldError(
    path,
    `unknown field "${path}" (expected an event field such as user, addr, type, fields.<name> or context.<name>)`,
  );
}

/** Every text of an event a content pattern should see (the `any` pseudo-field). */
export function eventTexts(e: MonitorEvent): string[] {
  const out: string[] = [];
  if (e.message) out.push(e.message);
  if (e.statement) out.push(e.statement);
  if (e.user) out.push(e.user);
  if (e.application) out.push(e.application);
  for (const key in e.fields) {
    const v = e.fields[key];
    if (typeof v === 'string' && v.length > 0) out.push(v);
  }
  return out;
}

// Field paths whose values may hold a statement, a parameter or a secret: never grouped on nor
// copied into an alert (M-12: alerts carry no passwords, tokens or decrypted data).
const sensitive =
  /^(statement|message|any)$|^fields\.(query|statement|parameters?|detail|context|.*password.*|.*passwd.*|.*token.*|.*secret.*|.*key.*|.*cookie.*)$/i;

/** True for a field no alert may carry. */
export function isSensitiveField(path: string): boolean {
  return sensitive.test(path);
}

/**
 * A group-by or distinct key: one field, or fallbacks `a??b` of which the first present is used.
 * `read` returns the field name used and its value as text (user names normalised).
 */
export interface KeyField {
  readonly spec: string;
  /** The first alternative's name: what a summary placeholder calls it. */
  readonly label: string;
  read(e: MonitorEvent): { name: string; value: string } | undefined;
  /** What `read` finds as one string (`<alternative>:<value>` with fallbacks), without allocating. */
  keyOf(e: MonitorEvent): string | undefined;
}

/** Compiles a key field spec; RuleFieldError for an unknown or sensitive field. */
export function keyField(spec: string): KeyField {
  const names = spec.split('??').map((s) => s.trim());
  const parts = names.map((name) => {
    if (!name) throw new RuleFieldError(spec, `empty alternative in "${spec}"`);
    if (isSensitiveField(name)) {
      throw new RuleFieldError(spec, `"${name}" may hold statements or secrets and cannot be grouped on or counted`);
    }
    return { name, get: fieldGetter(name), user: userFields.has(name) };
  });
  const valueOf = (part: (typeof parts)[number], e: MonitorEvent): string | undefined => {
    const raw = part.get(e);
    if (raw === undefined || raw === '') return undefined;
    const text = typeof raw === 'string' ? raw : String(raw);
    return part.user ? normaliseKey(text) : text;
  };
  const single = parts.length === 1 ? parts[0] : undefined;
  return {
    spec,
    label: names[0] ?? spec,
    keyOf(e) {
      if (single) return valueOf(single, e);
      for (let i = 0; i < parts.length; i += 1) {
        const v = valueOf(parts[i] as (typeof parts)[number], e);
        if (v !== undefined) return `${i}:${v}`;
      }
      return undefined;
    },
    read(e) {
      for (const part of parts) {
        const raw = part.get(e);
        if (raw === undefined || raw === '') continue;
        const text = String(raw);
        return { name: part.name, value: part.user ? normaliseKey(text) : text };
      }
      return undefined;
    },
  };
}

// Most names are already plain lower-case ASCII; only the others need Unicode normalisation.
const plainName = /^[a-z0-9._@+-]*$/;
function normaliseKey(name: string): string {
  return plainName.test(name) ? name : normaliseUser(name);
}
