// A script's SQL as pgdrill runs it: `:name` variables found outside literals, identifiers,
// comments and dollar quotes, numbered into $1..$n (pgbench's variables, the server's
// parameters), and a write wrapped so its request id enters the ledger in the same statement.
// Pure: no server, so the scenario loader validates statements with it.

import { LEDGER_TABLE } from '../seed/schema.js';

export interface ScannedSql {
  /** the statement with each `:name` replaced by its `$n`, a trailing `;` removed */
  text: string;
  /** variable names in `$n` order (a name used twice is one parameter) */
  params: string[];
  /** every `:name` as used, in order of appearance, with its offset in the original */
  uses: { name: string; offset: number }[];
  /** the first word of the statement, upper-cased ("INSERT", "WITH", ...) */
  firstWord: string;
  /** whether RETURNING appears as a word outside literals and comments */
  hasReturning: boolean;
  /** problems with the text itself (several statements, $1 parameters, an open quote) */
  problems: string[];
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const VAR_START = /[A-Za-z_]/;
const VAR_CHAR = /[A-Za-z0-9_]/;

/**
 * Scans one statement. The rules are PostgreSQL's lexical ones, as far as a variable can hide:
 * '...' (E'...' with backslash escapes), "...", -- and nested /* *\/ comments, $tag$...$tag$;
 * `::` is a cast, not a variable; `:name` starts with a letter or `_`.
 */
export function scanSql(sql: string): ScannedSql {
  const problems: string[] = [];
  const uses: { name: string; offset: number }[] = [];
  const params: string[] = [];
  const words: string[] = [];
  let out = '';
  let i = 0;
  let statementEnd = -1;
  const n = sql.length;
  const pushWord = (word: string) => words.push(word.toUpperCase());

  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];
    if (statementEnd >= 0 && !/\s/.test(c) && !(c === '-' && next === '-') && !(c === '/' && next === '*') && c !== ';') {
      problems.push('holds more than one statement; a script is one statement (put each in a script of its own)');
      statementEnd = -1;
    }
    if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && (i < 2 || !IDENT_CHAR.test(sql[i - 2]));
      let j = i + 1;
      for (; j < n; j++) {
        if (escapes && sql[j] === '\\') j++;
        else if (sql[j] === "'") {
          if (sql[j + 1] === "'") j++;
          else break;
        }
      }
      if (j >= n) problems.push(`a quoted string opened at character ${i + 1} is never closed`);
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      for (; j < n; j++) {
        if (sql[j] === '"') {
          if (sql[j + 1] === '"') j++;
          else break;
        }
      }
      if (j >= n) problems.push(`a quoted identifier opened at character ${i + 1} is never closed`);
      out += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '-' && next === '-') {
      let j = sql.indexOf('\n', i);
      if (j < 0) j = n;
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      if (depth > 0) problems.push(`a comment opened at character ${i + 1} is never closed`);
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    if (c === '$') {
      if (next !== undefined && /[0-9]/.test(next)) {
        problems.push(`uses a positional parameter ($${next}...) at character ${i + 1}; name it instead (:name) and declare it in vars`);
        out += c;
        i++;
        continue;
      }
      // a dollar quote: $$ or $tag$ (a tag does not start with a digit)
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (tag && !(i > 0 && IDENT_CHAR.test(sql[i - 1]))) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        const end = close < 0 ? n : close + tag[0].length;
        if (close < 0) problems.push(`a dollar-quoted string ${tag[0]} opened at character ${i + 1} is never closed`);
        out += sql.slice(i, end);
        i = end;
        continue;
      }
    }
    if (c === ':') {
      if (next === ':') {
        out += '::';
        i += 2;
        continue;
      }
      if (next !== undefined && VAR_START.test(next) && !(i > 0 && sql[i - 1] === ':')) {
        let j = i + 1;
        while (j < n && VAR_CHAR.test(sql[j])) j++;
        const name = sql.slice(i + 1, j);
        uses.push({ name, offset: i });
        let index = params.indexOf(name);
        if (index < 0) index = params.push(name) - 1;
        out += `$${index + 1}`;
        i = j;
        continue;
      }
    }
    if (c === ';') {
      statementEnd = i;
      i++;
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(sql[j])) j++;
      pushWord(sql.slice(i, j));
      out += sql.slice(i, j);
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  const text = out.trim();
  if (text === '') problems.push('holds no statement');
  return { text, params, uses, firstWord: words[0] ?? '', hasReturning: words.includes('RETURNING'), problems };
}

export const LEDGER_OF_SCRIPTS = LEDGER_TABLE;

/** "id" -> "id"; "Weird Name" -> "\"Weird Name\"" */
export function quoteName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The key of a row the statement returned, as text: one column as is, several as PostgreSQL's row text. */
export function keyExpression(relation: string, key: readonly string[]): string {
  const columns = key.map((k) => `${relation}.${quoteName(k)}`);
  return columns.length === 1 ? `${columns[0]}::text` : `ROW(${columns.join(', ')})::text`;
}

/**
 * A write statement with its ledger: one statement, so the request id and the key of the
 * (first) row written go into the ledger in the same transaction as the write, and only when
 * it wrote a row. Returns the key as text in column `key`; the request id is `$<requestParam>`.
 * The newline before the closing parenthesis keeps a trailing `-- comment` of the user's
 * statement from swallowing it.
 */
export function withScriptLedger(statement: string, key: readonly string[], requestParam: number): string {
  const w = 'pgdrill_w';
  const k = keyExpression(w, key);
  return (
    `WITH ${w} AS (${statement}\n), pgdrill_ledger AS (INSERT INTO ${LEDGER_OF_SCRIPTS} (request_id, row_key) ` +
    `SELECT $${requestParam}::uuid, ${k} FROM ${w} LIMIT 1) SELECT ${k} AS key FROM ${w} LIMIT 1`
  );
}

/** The offset of the user's statement inside withScriptLedger's text (to map an error position back). */
export function ledgerPrefixLength(): number {
  return 'WITH pgdrill_w AS ('.length;
}
