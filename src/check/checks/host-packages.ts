import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { type HostEnv, listDir, readText, redactUrl, tryStat } from './host-env.js';

/** Who publishes a package repository. */
export type Origin = 'distribution' | 'pgdg' | 'other';

/** One enabled package source (apt or yum), its URL without credentials. */
export interface PackageSource {
  file: string;
  url: string;
  origin: Origin;
}

/**
 * Hosts of the distributions' own archives and of the PostgreSQL Global Development Group's.
 *
 * @example
 * originOf('http://apt.postgresql.org/pub/repos/apt'); // 'pgdg'
 */
export function originOf(url: string): Origin {
  const host = /^[a-z+]+:\/\/([^/:]+)/i.exec(url)?.[1]?.toLowerCase() ?? '';
  if (/(^|\.)postgresql\.org$/.test(host)) return 'pgdg';
  const distributions = [
    'debian.org',
    'ubuntu.com',
    'redhat.com',
    'centos.org',
    'fedoraproject.org',
    'rockylinux.org',
    'almalinux.org',
    'oracle.com',
    'opensuse.org',
    'suse.com',
  ];
  return distributions.some((d) => host === d || host.endsWith(`.${d}`)) ? 'distribution' : 'other';
}

/**
 * Enabled apt (one-line and deb822) and yum/dnf sources; each file's top level only.
 *
 * @example
 * (await readPackageSources(env)).sources[0]; // { file, url: 'http://deb.debian.org/debian', origin: 'distribution' }
 */
export async function readPackageSources(env: HostEnv): Promise<{ sources: PackageSource[]; manager: string[] }> {
  const sources: PackageSource[] = [];
  const manager: string[] = [];
  const apt = join(env.etcDir, 'apt');
  const aptFiles = [join(apt, 'sources.list')];
  for (const e of await listDir(join(apt, 'sources.list.d'), 500)) {
    if (/\.(list|sources)$/.test(e.name)) aptFiles.push(join(apt, 'sources.list.d', e.name));
  }
  for (const file of aptFiles) {
    const read = await readText(file, env.maxFileBytes);
    if (typeof read === 'string') continue;
    if (!manager.includes('apt')) manager.push('apt');
    const urls = file.endsWith('.sources') ? deb822Urls(read.text) : oneLineUrls(read.text);
    for (const url of urls) sources.push({ file, url: redactUrl(url), origin: originOf(url) });
  }
  for (const e of await listDir(join(env.etcDir, 'yum.repos.d'), 500)) {
    if (!e.name.endsWith('.repo')) continue;
    const file = join(env.etcDir, 'yum.repos.d', e.name);
    const read = await readText(file, env.maxFileBytes);
    if (typeof read === 'string') continue;
    if (!manager.includes('yum')) manager.push('yum');
    for (const url of yumUrls(read.text)) sources.push({ file, url: redactUrl(url), origin: originOf(url) });
  }
  return { sources, manager };
}

function oneLineUrls(text: string): string[] {
  return text.split('\n').flatMap((raw) => {
    const line = raw.replace(/#.*$/, '').trim();
    // deb [options] uri suite [components]; deb-src lines build nothing that runs.
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
    return m ? [m[1]!] : [];
  });
}

function deb822Urls(text: string): string[] {
  return text.split(/\n\s*\n/).flatMap((stanza) => {
    const field = (name: string) =>
      new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(stanza.replace(/^#.*$/gm, ''))?.[1]?.trim() ?? '';
    if (!field('Types').split(/\s+/).includes('deb') || /^(no|false)$/i.test(field('Enabled'))) return [];
    return field('URIs').split(/\s+/).filter(Boolean);
  });
}

function yumUrls(text: string): string[] {
  return text.split(/^\[/m).flatMap((section) => {
    if (/^enabled\s*=\s*0/im.test(section)) return [];
    return [...section.matchAll(/^(?:baseurl|mirrorlist|metalink)\s*=\s*(\S+)/gim)].map((m) => m[1]!);
  });
}

/** The dpkg package that installed a file, with its version. */
export interface OwningPackage {
  name: string;
  version: string;
  status: string;
}

/**
 * The dpkg package whose file list holds `exe` ('no-dpkg' without a dpkg database). Only the
 * lists of packages named *postgres* / *pgsql* are read, which bounds the work on a machine with
 * thousands of packages; a server binary outside them is reported as not from a package.
 *
 * @example
 * await owningPackage(env, '/usr/lib/postgresql/15/bin/postgres'); // { name: 'postgresql-15', version: '15.8-0+deb12u1', … }
 */
export async function owningPackage(env: HostEnv, exe: string): Promise<OwningPackage | undefined | 'no-dpkg'> {
  const status = await readText(join(env.dpkgDir, 'status'), 64 << 20);
  if (typeof status === 'string') return 'no-dpkg';
  const target = await realpath(exe).catch(() => exe);
  const info = join(env.dpkgDir, 'info');
  for (const e of await listDir(info, 100_000)) {
    if (!/^[^:]*(postgres|pgsql)[^:]*(:[a-z0-9]+)?\.list$/.test(e.name)) continue;
    const list = await readText(join(info, e.name), env.maxFileBytes);
    if (typeof list === 'string') continue;
    for (const path of list.text.split('\n')) {
      if (!path.endsWith('/postgres') && !path.endsWith('/postmaster')) continue;
      if (path === exe || path === target || (await realpath(path).catch(() => '')) === target) {
        const name = e.name.replace(/(:[a-z0-9]+)?\.list$/, '');
        return { name, ...stanzaOf(status.text, name) };
      }
    }
  }
  return undefined;
}

function stanzaOf(status: string, name: string): { version: string; status: string } {
  const stanza =
    status.split(/\n\n/).find((s) => new RegExp(`^Package: ${name.replace(/[.+]/g, '\\$&')}$`, 'm').test(s)) ?? '';
  return {
    version: /^Version: (.*)$/m.exec(stanza)?.[1] ?? '',
    status: /^Status: (.*)$/m.exec(stanza)?.[1] ?? '',
  };
}

/**
 * Who built a package version: PGDG marks its builds `.pgdg`, Debian security and point releases
 * `+debNN`, Ubuntu `ubuntu`; undefined when the version does not say (a local or third-party build,
 * or an unstable Debian upload).
 *
 * @example
 * versionOrigin('16.4-1.pgdg120+1'); // 'pgdg'
 */
export function versionOrigin(version: string): Origin | undefined {
  if (/pgdg/i.test(version)) return 'pgdg';
  if (/[+~]deb\d+|ubuntu|\.el\d+|\.fc\d+/i.test(version)) return 'distribution';
  return undefined;
}

/**
 * Whether systemd is the running service manager (what sd_booted tests).
 *
 * @example
 * if (await systemdRunning(env)) …
 */
export async function systemdRunning(env: HostEnv): Promise<boolean> {
  const s = await tryStat(env.systemdRunDir);
  return typeof s !== 'string' && s.isDirectory();
}
