// A scenario's scripts compiled once, before the load: the text each connection prepares (with
// its ledger wrapped around a write), the generator of each parameter in order, the kind of
// operation it records. Pure: the executor (script-ops.ts) only draws values and sends.

import type { OpKind } from '../record/records.js';
import type { ScriptConfig, ScriptLedger, WorkloadConfig } from '../scenario/scenario.js';
import { parseGenerator, type GeneratorSpec } from './generators.js';
import { ledgerPrefixLength, scanSql, withScriptLedger } from './script-sql.js';

export type ScriptStream = 'write' | 'read';

export interface CompiledScript {
  stream: ScriptStream;
  index: number;
  /** where it is in the scenario: "workload.writes.scripts[1]" */
  path: string;
  /** its name ("close-retro", or "writes[1]") */
  label: string;
  /** as written in the scenario */
  sql: string;
  kind: OpKind;
  weight: number;
  /** the prepared statement's name: prepared once per connection */
  statementName: string;
  /** the text sent: `:name` as `$n`, a write wrapped with its ledger */
  text: string;
  /** characters of `text` before the user's own statement (the ledger's wrapper) */
  prefixLength: number;
  /** the user's parameters in `$n` order */
  params: { name: string; spec: GeneratorSpec }[];
  ledger?: ScriptLedger;
  /** the `$n` of the request id (params.length + 1) when the write has a ledger */
  requestParam?: number;
}

/** The kind an op of this script records: its ledger's op, else what the statement starts with. */
function kindOf(stream: ScriptStream, ledger: ScriptLedger | false | undefined, firstWord: string): OpKind {
  if (stream === 'read') return 'select';
  if (ledger) return ledger.op;
  if (firstWord === 'INSERT') return 'insert';
  if (firstWord === 'DELETE') return 'delete';
  return 'update';
}

export function compileScript(stream: ScriptStream, index: number, script: ScriptConfig): CompiledScript {
  const scan = scanSql(script.sql);
  if (scan.problems.length) throw new Error(`workload.${stream}s.scripts[${index}].sql: ${scan.problems[0]}`);
  const params = scan.params.map((name) => {
    const text = script.vars[name];
    if (text === undefined) throw new Error(`workload.${stream}s.scripts[${index}].sql uses :${name}, which vars does not declare`);
    const spec = parseGenerator(text);
    if ('error' in spec) throw new Error(`workload.${stream}s.scripts[${index}].vars.${name}: ${spec.error}`);
    return { name, spec };
  });
  const ledger = stream === 'write' && script.ledger ? script.ledger : undefined;
  const requestParam = ledger ? params.length + 1 : undefined;
  return {
    stream,
    index,
    path: `workload.${stream}s.scripts[${index}]`,
    label: script.name,
    sql: script.sql,
    kind: kindOf(stream, script.ledger, scan.firstWord),
    weight: script.weight,
    statementName: `pgdrill_${stream === 'write' ? 'w' : 'r'}${index}`,
    text: ledger ? withScriptLedger(scan.text, ledger.key, requestParam!) : scan.text,
    prefixLength: ledger ? ledgerPrefixLength() : 0,
    params,
    ...(ledger ? { ledger, requestParam } : {}),
  };
}

/** Every script of the workload, writes first; [] when it runs the built-in statements. */
export function compileScripts(workload: WorkloadConfig): CompiledScript[] {
  return [
    ...(workload.writes.scripts ?? []).map((s, i) => compileScript('write', i, s)),
    ...(workload.reads.scripts ?? []).map((s, i) => compileScript('read', i, s)),
  ];
}

/** The pick() generators of the scripts: table (as written) and column, once each. */
export function picksOf(scripts: readonly CompiledScript[]): { table: string; column: string; usedBy: string }[] {
  const out: { table: string; column: string; usedBy: string }[] = [];
  for (const s of scripts) {
    for (const p of s.params) {
      if (p.spec.kind !== 'pick') continue;
      const { table, column } = p.spec;
      if (!out.some((o) => o.table === table && o.column === column)) out.push({ table, column, usedBy: `${s.path}.vars.${p.name}` });
    }
  }
  return out;
}
