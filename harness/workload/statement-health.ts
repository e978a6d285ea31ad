// Whether a script's statement is broken (its own fault, not the server's): a syntax error or
// an undefined column would otherwise be counted as thousands of failed writes and read as
// downtime. The first answers decide: an error of a class that planning alone raises, before
// the statement ever succeeded, is broken at once; any other non-transient error is broken when
// the first few answers were all errors. Once a statement has succeeded, later failures are the
// rehearsal's findings (a column dropped by a migration step, keys colliding after a cutover).

/** SQLSTATE classes that say the server or the moment failed, not the statement. */
const TRANSIENT_CLASSES = new Set([
  '08', // connection exception
  '25', // invalid transaction state: 25006 read-only transaction (a frozen or fenced primary)
  '40', // transaction rollback: serialization failure, deadlock
  '53', // insufficient resources: disk full, too many connections
  '55', // object not in prerequisite state: lock not available
  '57', // operator intervention: shutdown, cancel, terminated
  '58', // system error
  'XX', // internal error
]);

/** Classes raised while parsing and planning the statement: they fail every time, whatever the data. */
const PLANNING_CLASSES = new Set([
  '42', // syntax error or access rule violation: 42601 syntax, 42703 undefined column, 42P01 undefined table
  '0A', // feature not supported
  '3D', // invalid catalog name
  '3F', // invalid schema name
  '26', // invalid SQL statement name
]);

/** Errors before any success, of a non-planning class, that make the statement broken. */
export const BROKEN_AFTER = 5;

export function isTransientSqlstate(sqlstate: string | undefined): boolean {
  return sqlstate === undefined || TRANSIENT_CLASSES.has(sqlstate.slice(0, 2));
}

/** What is known about one statement's answers so far. */
export interface StatementHealth {
  succeeded: boolean;
  /** non-transient errors before the first success */
  strikes: number;
}

export function newHealth(): StatementHealth {
  return { succeeded: false, strikes: 0 };
}

/**
 * Counts one answer into `health`; true when this answer shows the statement broken. An
 * answer with no SQLSTATE (a lost connection, a timeout) says nothing about the statement.
 */
export function recordAnswer(health: StatementHealth, ok: boolean, sqlstate?: string): boolean {
  if (ok) {
    health.succeeded = true;
    return false;
  }
  if (health.succeeded || isTransientSqlstate(sqlstate)) return false;
  health.strikes++;
  return PLANNING_CLASSES.has(sqlstate!.slice(0, 2)) || health.strikes >= BROKEN_AFTER;
}
