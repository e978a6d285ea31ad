// Which relations are the user's: the one definition shared by the table integrity check and
// the catalog comparison, so that both look at the same objects, and how their names print.

import { BOOKKEEPING_SCHEMA } from '../seed/schema.js';

/**
 * SQL condition, true for a relation of the user's: not in a system schema (users cannot
 * create schemas named pg_*, so the prefix covers pg_catalog, pg_toast*, pg_temp*), not in
 * information_schema or pgdrill's bookkeeping schema, and not a member of an extension
 * (an extension's tables are recreated by CREATE EXTENSION, not migrated as data).
 * `rel` and `nsp` are the aliases of pg_class and pg_namespace in the query.
 */
export function userRelationCondition(rel: string, nsp: string): string {
  return `${nsp}.nspname !~ '^pg_' AND ${nsp}.nspname <> 'information_schema'
      AND ${nsp}.nspname <> ${quoteLiteral(BOOKKEEPING_SCHEMA)}
      AND NOT EXISTS (SELECT 1 FROM pg_depend member
                       WHERE member.classid = 'pg_class'::regclass AND member.objid = ${rel}.oid AND member.deptype = 'e')`;
}

/**
 * SQL expression naming a relation as regclass::text prints it with search_path = public,
 * whatever the session's search_path is: unqualified in public unless a pg_catalog relation
 * of the same name shadows it (pg_catalog is searched first), schema-qualified otherwise.
 */
export function displayNameSql(rel: string, nsp: string): string {
  return `CASE WHEN ${nsp}.nspname = 'public'
                AND NOT EXISTS (SELECT 1 FROM pg_class shadowing WHERE shadowing.relname = ${rel}.relname
                                   AND shadowing.relnamespace = 'pg_catalog'::regnamespace)
               THEN quote_ident(${rel}.relname)
               ELSE quote_ident(${nsp}.nspname) || '.' || quote_ident(${rel}.relname) END`;
}

/** SQL expression: schema.relation, each part quoted where needed (search_path plays no part). */
export function qualifiedNameSql(rel: string, nsp: string): string {
  return `quote_ident(${nsp}.nspname) || '.' || quote_ident(${rel}.relname)`;
}

/**
 * Pure: a relation name as regclass::text prints it ("orders", "sales.\"Odd name\"") back
 * into schema and relation. Unqualified means public, as with search_path = public; quoted
 * parts keep their case and may hold dots and doubled quotes, unquoted ones fold to lower
 * case as SQL folds them. Throws on what no identifier syntax allows.
 */
export function splitRelationName(name: string): { schema: string; relation: string } {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = '';
    if (name[i] === '"') {
      i++;
      for (;;) {
        if (i >= name.length) throw new Error(`relation name ${JSON.stringify(name)}: unterminated quoted identifier`);
        if (name[i] === '"') {
          if (name[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += name[i++];
      }
    } else {
      while (i < name.length && name[i] !== '.') part += name[i++];
      part = part.trim().toLowerCase();
    }
    if (part === '') throw new Error(`relation name ${JSON.stringify(name)}: empty part`);
    parts.push(part);
    if (i >= name.length) break;
    if (name[i] !== '.') throw new Error(`relation name ${JSON.stringify(name)}: unexpected ${JSON.stringify(name[i])} at ${i}`);
    i++;
  }
  if (parts.length === 1) return { schema: 'public', relation: parts[0] };
  if (parts.length === 2) return { schema: parts[0], relation: parts[1] };
  throw new Error(`relation name ${JSON.stringify(name)}: expected [schema.]relation, got ${parts.length} parts`);
}

/** SQL identifier quoting, always quoted (valid for any name, keywords included). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
