// A sql step: the statement runs once on the node's own address (not the endpoint) as the
// run's superuser, as ONE simple query, so several statements run in one implicit transaction
// exactly as `psql -c` would run them. A statement cut short is cancelled on the server too:
// left running, a migration's DDL would go on holding its locks after the step was recorded.

import pg from 'pg';
import type { SqlStepConfig } from '../scenario/scenario.js';
import type { RuntimeNode } from '../runtime/runtime.js';
import { DATABASE, connectNode, withNode } from '../topology/connect.js';
import { errorMessage } from '../errors.js';
import { StepLimit, settle, within, type Settled } from './step-limit.js';
import { describeError, describeResults, totalRowCount } from './sql-result-text.js';
import type { StepOutcome } from './step-outcome.js';

/** How long a cancel (then a terminate) may take to end the statement before the step stops waiting. */
const CANCEL_GRACE_MS = 2000;

// Every value as the text the server sent: the record shows rows as text, and a bigint or a
// timestamp must not be reinterpreted by JavaScript on the way.
const AS_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

type Results = pg.QueryResult<unknown[]>[];

export async function runSqlStep(config: SqlStepConfig, node: RuntimeNode, signal: AbortSignal): Promise<StepOutcome> {
  const database = config.database ?? DATABASE;
  const where = `node ${node.name} (${node.address.host}:${node.address.port}, database ${database})`;
  const limit = new StepLimit(config.timeout, signal);
  const notices: string[] = [];
  let client: pg.Client | undefined;
  try {
    if (limit.reason) return { ok: false, rowCount: null, error: `not started: the run was aborted before it`, outputTail: '' };

    const connecting = settle(
      connectNode(node, {
        database,
        timeout: config.timeout,
        // pgdrill's own limit below ends the statement first; this only guards a server that never answers at all
        queryTimeout: config.timeout + 6 * CANCEL_GRACE_MS,
        applicationName: 'pgdrill-sql-step',
      }),
    );
    const connected = await Promise.race([connecting, limit.reached]);
    if (typeof connected === 'string') {
      void connecting.then((c) => {
        if (c.ok) void c.value.end().catch(() => undefined);
      });
      return { ok: false, rowCount: null, error: `${limit.describe(connected)} while connecting to ${where}`, outputTail: '' };
    }
    if (!connected.ok) {
      const server = serverError(connected.error);
      return {
        ok: false,
        rowCount: null,
        ...(server?.sqlstate ? { sqlstate: server.sqlstate } : {}),
        error: `could not connect to ${where} as ${node.credentials.superuser}: ${errorMessage(connected.error)}`,
        outputTail: server ? describeError(server) : '',
      };
    }
    client = connected.value;
    client.on('notice', (n) => notices.push(`${n.severity ?? 'NOTICE'}:  ${n.message}`));

    // the backend to cancel if the statement outlives the step
    const pidQuery = await Promise.race([settle(client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')), limit.reached]);
    if (typeof pidQuery === 'string') return { ok: false, rowCount: null, error: `${limit.describe(pidQuery)} before the statement was sent to ${where}`, outputTail: '' };
    if (!pidQuery.ok) {
      return { ok: false, rowCount: null, error: `could not start the statement on ${where}: ${errorMessage(pidQuery.error)}`, outputTail: '' };
    }
    const pid = pidQuery.value.rows[0].pid;

    // no values: node-postgres sends it as a simple Query message, several statements and all
    const running = settle(client.query({ text: config.statement, rowMode: 'array', types: AS_TEXT }) as unknown as Promise<Results | Results[number]>);
    const done = await Promise.race([running, limit.reached]);
    if (typeof done !== 'string') {
      if (!done.ok) return failed(done.error, where, notices);
      const outcome = succeeded(done.value, notices);
      // a BEGIN without its COMMIT would be rolled back silently when pgdrill closes the session
      if (client.getTransactionStatus() !== 'I') {
        return {
          ...outcome,
          ok: false,
          error: 'the statement left a transaction open (BEGIN without COMMIT); pgdrill closed the session, so it rolled back',
        };
      }
      return outcome;
    }

    const ended = await cancelOnServer(node, database, pid, running);
    const server = ended && !ended.ok ? serverError(ended.error) : undefined;
    const how = !ended
      ? 'pgdrill cancelled and then terminated its session, but the server did not answer; its outcome is unknown'
      : ended.ok
        ? 'it completed while pgdrill was cancelling it (it took effect)'
        : server?.sqlstate === '57014'
          ? 'pgdrill cancelled it on the server (its transaction rolled back)'
          : server
            ? `pgdrill ended its session on the server (${server.message}; its transaction rolled back)`
            : `the connection was lost while pgdrill cancelled it (${errorMessage(ended.error)}); its outcome is unknown`;
    return {
      ok: false,
      rowCount: ended?.ok ? totalRowCount(asList(ended.value as Results | Results[number])) : null,
      ...(server?.sqlstate ? { sqlstate: server.sqlstate } : {}),
      error: `the statement ${limit.describe(done)} on ${where}; ${how}`,
      outputTail: server ? describeError(server, notices) : notices.join('\n'),
    };
  } catch (err) {
    // nothing above should throw, but a step must never take the timeline down with it
    return { ok: false, rowCount: null, error: `the sql step on ${where} failed in pgdrill: ${errorMessage(err)}`, outputTail: notices.join('\n') };
  } finally {
    limit.dispose();
    // end() waits for the server to close the session: a paused one never does
    if (client) await within(client.end().catch(() => undefined), CANCEL_GRACE_MS);
  }
}

// node-postgres returns one result for one statement and an array for several
const asList = (value: Results | Results[number]): Results => (Array.isArray(value) ? value : [value]);

function succeeded(value: Results | Results[number], notices: string[]): StepOutcome {
  const results = asList(value);
  return { ok: true, rowCount: totalRowCount(results), outputTail: describeResults(results, notices) };
}

function failed(error: unknown, where: string, notices: string[]): StepOutcome {
  const server = serverError(error);
  if (server) {
    return {
      ok: false,
      rowCount: null,
      ...(server.sqlstate ? { sqlstate: server.sqlstate } : {}),
      error: server.message,
      outputTail: describeError(server, notices),
    };
  }
  // the connection broke while the statement ran: it may or may not have committed
  return {
    ok: false,
    rowCount: null,
    error: `lost the connection to ${where} while the statement ran (its outcome is unknown): ${errorMessage(error)}`,
    outputTail: notices.join('\n'),
  };
}

function serverError(error: unknown) {
  if (!(error instanceof pg.DatabaseError)) return undefined;
  return { message: error.message, sqlstate: error.code, detail: error.detail, hint: error.hint, position: error.position };
}

/**
 * Cancel first (the statement fails with 57014 and its implicit transaction rolls back); if
 * that does not end it, terminate the session. Returns how the statement ended, or undefined
 * when the server answered neither (a paused or partitioned node).
 */
async function cancelOnServer(
  node: RuntimeNode,
  database: string,
  pid: number,
  running: Promise<Settled<unknown>>,
): Promise<Settled<unknown> | undefined> {
  for (const fn of ['pg_cancel_backend', 'pg_terminate_backend']) {
    await withNode(node, (c) => c.query(`SELECT ${fn}($1)`, [pid]), {
      database,
      timeout: CANCEL_GRACE_MS,
      applicationName: 'pgdrill-sql-step-cancel',
    }).catch(() => undefined);
    const ended = await within(running, CANCEL_GRACE_MS);
    if (ended) return ended;
  }
  return undefined;
}
