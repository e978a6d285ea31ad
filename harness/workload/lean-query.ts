// A named statement run the lean way on a pg.Client: Bind, Execute and Sync in one write, and
// nothing else on the wire once the connection has prepared it. pg's own Query sends a
// Describe with every execution (the server answers with a RowDescription each time), copies
// the query config with its property descriptors, builds an EventEmitter, a Result and its type
// parsers per query, and corks three writes. In the load's profiles that was cloneQueryConfig
// 4.4 % and addFields 3.2 % (node:inspector, 3,000 ops/s), and the corked writes' clearBuffer
// 12.9 % with the send below it (perf, 2,000 ops/s; 9 % for the one write now). Here the row
// shape is asked for once per connection (a Describe of the statement, sent with its Parse)
// and kept with the connection.
//
// It is a pg "Submittable" (the documented way pg-cursor and pg-query-stream plug in): pg's
// Client still owns the socket, the queue, the errors and the connection's life.

import { createRequire } from 'node:module';
import pg from 'pg';
import { serialize } from 'pg-protocol';

/** pg's own mapping of JavaScript values to parameters (Dates, Buffers, arrays, JSON), so a value binds exactly as pg.Query binds it. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

/** The parts of pg's Connection a Submittable drives (pg's typings leave most of them out). */
interface WireConnection {
  stream: { writable: boolean; write(chunk: Buffer): boolean };
  /** statements this connection has prepared, by name (pg fills it on ParseComplete) */
  parsedStatements: Record<string, string>;
  /** statements sent for preparing, not yet confirmed */
  submittedNamedStatements: Record<string, string>;
  sendCopyFail(message: string): void;
}

interface FieldDescription {
  name: string;
  dataTypeID: number;
}

/** A statement's result columns, with the parser for each column's type. */
interface RowShape {
  names: string[];
  parsers: Array<(text: string) => unknown>;
}

/** Execute (the whole result, unnamed portal) and Sync: the same bytes after every Bind. */
const EXECUTE_SYNC = Buffer.concat([serialize.execute(), serialize.sync()]);

/** The row shape of each statement, per connection: learnt from the Describe sent with the Parse. */
const shapes = new WeakMap<WireConnection, Map<string, RowShape>>();

export interface LeanResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

export class LeanQuery implements pg.Submittable {
  /** read by pg's Client: it records the statement as parsed on this connection at ParseComplete */
  readonly name: string;
  readonly text: string;
  private readonly values: unknown[];
  private readonly rows: Record<string, unknown>[] = [];
  private rowCount = 0;
  private shape: RowShape | undefined;
  /** the connection it went out on; until `shape` is known, a Describe of the statement went with it */
  private connection: WireConnection | undefined;
  private rowError: Error | undefined;

  constructor(
    name: string,
    text: string,
    values: unknown[] | undefined,
    /** called once: at ReadyForQuery, or with the error */
    readonly callback: (err: Error | null, result: LeanResult | undefined) => void,
  ) {
    this.name = name;
    this.text = text;
    this.values = values ?? [];
  }

  /** pg's Client calls this to send; an Error returned (not thrown) is handed back through handleError. */
  submit(pgConnection: pg.Connection): Error | null {
    const connection = pgConnection as unknown as WireConnection;
    this.connection = connection;
    let known = shapes.get(connection);
    if (!known) shapes.set(connection, (known = new Map()));
    this.shape = known.get(this.name);
    const previous = connection.parsedStatements[this.name] ?? connection.submittedNamedStatements[this.name];
    if (previous !== undefined && previous !== this.text) {
      // as pg.Query refuses it: a name means one text per connection
      return new Error(`Prepared statements must be unique - '${this.name}' was used for a different statement`);
    }
    // Bind first: a value pg cannot map throws here, before anything is on the wire
    let bind: Buffer;
    try {
      bind = serialize.bind({ portal: '', statement: this.name, values: this.values, valueMapper: prepareValue });
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    // as pg's own send: on a socket that is ending, the end or error settles the query
    if (!connection.stream.writable) return null;
    // One buffer, one write. Corking several writes (as pg.Query does) costs the stream's
    // buffered-write machinery on every op: an eighth of the load's main thread at 2,000/s.
    if (previous !== undefined && this.shape) {
      connection.stream.write(Buffer.concat([bind, EXECUTE_SYNC]));
      return null;
    }
    // The first time on a connection, Parse and a Describe of the statement go in front.
    const parts: Buffer[] = [];
    if (previous === undefined) {
      parts.push(serialize.parse({ name: this.name, text: this.text, types: [] }));
      connection.submittedNamedStatements[this.name] = this.text;
    }
    if (!this.shape) {
      // prepared here (or by pg.Query before) but its row shape not yet known on this connection
      parts.push(serialize.describe({ type: 'S', name: this.name }));
    }
    parts.push(bind, EXECUTE_SYNC);
    connection.stream.write(Buffer.concat(parts));
    return null;
  }

  /** Only in answer to our Describe of the statement (an Execute never sends one). */
  handleRowDescription(message: { fields: FieldDescription[] }): void {
    if (!this.shape) this.learn(shapeOf(message.fields));
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    const shape = this.shape;
    if (!shape) {
      this.rowError ??= new Error(`a row of '${this.name}' came before its row description`);
      return;
    }
    const row: Record<string, unknown> = {};
    try {
      for (let i = 0; i < shape.names.length; i++) {
        const raw = message.fields[i];
        row[shape.names[i]] = raw === null || raw === undefined ? null : shape.parsers[i](raw);
      }
    } catch (err) {
      this.rowError ??= err instanceof Error ? err : new Error(String(err));
      return;
    }
    this.rows.push(row);
  }

  handleCommandComplete(message: { text?: string }): void {
    // "INSERT 0 1", "UPDATE 3", "SELECT 1": the count is the last number
    const count = /(\d+)$/.exec(message.text ?? '');
    this.rowCount = count ? Number(count[1]) : 0;
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: WireConnection): void {
    connection.sendCopyFail('pgdrill does not feed COPY from a workload statement');
  }

  handleCopyData(): void {}

  handleError(err: Error): void {
    this.callback(err, undefined);
  }

  handleReadyForQuery(): void {
    // a statement without result columns answers the Describe with NoData, which pg does not
    // pass on: it got this far without a RowDescription, so it has none
    if (!this.shape) this.learn(NO_ROWS);
    if (this.rowError) this.callback(this.rowError, undefined);
    else this.callback(null, { rows: this.rows, rowCount: this.rowCount });
  }

  private learn(shape: RowShape): void {
    this.shape = shape;
    if (this.connection) shapes.get(this.connection)?.set(this.name, shape);
  }
}

function shapeOf(fields: FieldDescription[]): RowShape {
  return {
    names: fields.map((f) => f.name),
    parsers: fields.map((f) => pg.types.getTypeParser(f.dataTypeID, 'text') as (text: string) => unknown),
  };
}

const NO_ROWS: RowShape = { names: [], parsers: [] };
