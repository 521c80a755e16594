import { describe, expect, it } from 'vitest';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { inCidr, parseAddress, parseCidr } from '../../../src/monitor/rules/cidr.js';
import { compileSelections } from '../../../src/monitor/rules/match.js';
import type { Selection } from '../../../src/monitor/rules/rule-schema.js';

const event: MonitorEvent = {
  id: 'x:1',
  source: 'server-log',
  type: 'pg.error',
  time: 0,
  severity: 'error',
  user: 'Alice',
  addr: '2001:db8::7',
  sqlstate: '42501',
  message: 'Permission denied to set role "admin"',
  fields: { rows: 1500, reason: 'Signature', granted_by: 'alice', superuser: true, empty: '' },
};

const holds = (selection: Selection) => compileSelections([selection])(event);

describe('selection matching', () => {
  it('ANDs keys and ORs list values', () => {
    expect(holds({ type: ['pg.login', 'pg.error'], sqlstate: '42501' })).toBe(true);
    expect(holds({ type: ['pg.login', 'pg.error'], sqlstate: '42601' })).toBe(false);
    expect(compileSelections([{ type: 'pg.login' }, { sqlstate: '42501' }])(event)).toBe(true);
  });

  it('compares text case-insensitively unless cased', () => {
    expect(holds({ user: 'alice' })).toBe(true);
    expect(holds({ 'user|cased': 'alice' })).toBe(false);
    expect(holds({ 'message|contains': 'PERMISSION DENIED' })).toBe(true);
    expect(holds({ 'message|contains|cased': 'PERMISSION DENIED' })).toBe(false);
    expect(holds({ 'message|startswith': 'permission' })).toBe(true);
    expect(holds({ 'message|endswith': '"ADMIN"' })).toBe(true);
    expect(holds({ 'message|contains|all': ['denied', 'role'] })).toBe(true);
    expect(holds({ 'message|contains|all': ['denied', 'table'] })).toBe(false);
  });

  it('matches regular expressions, case-sensitive unless (?i)', () => {
    expect(holds({ 'message|re': 'denied to set (role|session)' })).toBe(true);
    expect(holds({ 'message|re': 'PERMISSION' })).toBe(false);
    expect(holds({ 'message|re': '(?i)PERMISSION' })).toBe(true);
  });

  it('compares numbers, booleans, presence and absence', () => {
    expect(holds({ 'fields.rows|gte': 1500, 'fields.rows|lt': 1501 })).toBe(true);
    expect(holds({ 'fields.rows|gt': 1500 })).toBe(false);
    expect(holds({ 'fields.reason|gte': 1 })).toBe(false);
    expect(holds({ 'fields.superuser': true })).toBe(true);
    expect(holds({ 'fields.superuser': 'true' })).toBe(true);
    expect(holds({ 'fields.missing|exists': false, 'user|exists': true })).toBe(true);
    expect(holds({ 'fields.empty|exists': true })).toBe(false);
    expect(holds({ 'fields.missing': null })).toBe(true);
    expect(holds({ user: null })).toBe(false);
  });

  it('negates a key with not, which also holds for an absent field', () => {
    expect(holds({ 'fields.reason|not': ['expired'] })).toBe(true);
    expect(holds({ 'fields.reason|not': ['signature'] })).toBe(false);
    expect(holds({ 'fields.missing|not': ['x'] })).toBe(true);
  });

  it('compares one field with another with fieldref', () => {
    expect(holds({ 'fields.granted_by|fieldref': 'user' })).toBe(true);
    expect(holds({ 'fields.granted_by|fieldref|cased': 'user' })).toBe(false);
    expect(holds({ 'fields.missing|fieldref': 'fields.other' })).toBe(false);
  });

  it('matches address blocks of both families, never a non-address', () => {
    expect(holds({ 'addr|cidr': '2001:db8::/32' })).toBe(true);
    expect(holds({ 'addr|cidr': ['10.0.0.0/8', '::1/128'] })).toBe(false);
    expect(holds({ 'user|cidr': '0.0.0.0/0' })).toBe(false);
    const mapped = parseAddress('::ffff:127.0.0.1');
    expect(mapped && inCidr(mapped, parseCidr('127.0.0.0/8')!)).toBe(true);
    expect(parseAddress('1.2.3.256')).toBeUndefined();
    expect(parseAddress('1::2::3')).toBeUndefined();
    expect(parseAddress('[fe80::1%eth0]')).toBeDefined();
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    const block = parseCidr('192.168.4.0/22')!;
    expect(inCidr(parseAddress('192.168.7.255')!, block)).toBe(true);
    expect(inCidr(parseAddress('192.168.8.0')!, block)).toBe(false);
  });

  it('reads SQL comments as one space with sql: nested, to the end of the line, not in literals', () => {
    const statement = (text: string) =>
      compileSelections([{ 'statement|sql|re': '(?i)\\bdrop\\s+policy\\b' }])({ ...event, statement: text });
    expect(statement('drop/*x*/policy p on t')).toBe(true);
    expect(statement('drop/* a /* b */ c */policy p on t')).toBe(true);
    expect(statement('drop -- why not\npolicy p on t')).toBe(true);
    expect(statement('do $$ begin drop/**/policy p on t; end $$')).toBe(true);
    expect(statement("select 'drop/*x*/policy'")).toBe(false);
    expect(statement('select 1 -- drop policy p')).toBe(false);
    expect(
      compileSelections([{ 'statement|re': '(?i)\\bdrop\\s+policy\\b' }])({ ...event, statement: 'drop/*x*/policy' }),
    ).toBe(false);
  });

  it('looks at every text of the event with any', () => {
    expect(holds({ 'any|contains': 'signature' })).toBe(true);
    expect(holds({ 'any|contains': 'nowhere' })).toBe(false);
  });
});
