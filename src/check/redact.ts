// Text that leaves the scanner (a target's label, a check's failure reason, a fleet error, a line
// of pg_hba.conf the server rejected) can carry a credential it quotes: a connection URI with its
// password, a password= keyword, an LDAP bind password the server's error message repeats.

// Up to the last @ of the authority: libpq takes an unencoded @ in a password as part of it.
const uriPassword = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/?#]*@/gi;
const secretKeyword =
  /\b(password|passwd|passwort|pwd|pgpassword|sslpassword|ldapbindpasswd|radiussecrets?|secret|token|api[_-]?key)(\s*[=:]\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s&,;]+)/gi;

/**
 * The text with credentials it may quote replaced by `***`: the password of a URI
 * (`postgresql://u:***@h/db`) and the value of a password=, secret=, token= or key= keyword.
 *
 * @example
 * redactSecrets('postgresql://app:s3cret@db/app?sslmode=require'); // 'postgresql://app:***@db/app?sslmode=require'
 * redactSecrets("host=db password='a b'"); // 'host=db password=***'
 */
export function redactSecrets(text: string): string {
  return text.replace(uriPassword, '$1:***@').replace(secretKeyword, '$1$2***');
}

/**
 * A pg_hba_file_rules error without the option values it may repeat. PostgreSQL quotes the
 * offending token (`authentication option not in name=value format: <rest of a password that
 * had a space>`) or the whole value (`could not parse LDAP URL "ldap://u:pw@…"`).
 *
 * @example
 * redactHbaError('authentication option not in name=value format: pw2'); // '… format: ***'
 */
export function redactHbaError(error: string): string {
  return redactSecrets(error)
    .replace(/(name=value format:\s*).*$/s, '$1***')
    .replace(/((?:secret|URL|ldap\w*|password)[^"]*)"[^"]*"/gi, '$1"***"');
}
