// Where one thread's CPU went, from `perf script` output: by binary (the kernel, node's own
// code and V8's builtins, JIT-compiled JavaScript, libc) and by the nearest JavaScript function
// on the stack (its builtins and the syscalls below it counted with it). The node:inspector
// profile the bench prints with --profile counts wall time (a sample inside a blocking
// syscall counts there); perf's samples are CPU time, so this is the split of the CPU figure.
//
//   perf record -F 1999 -g -o perf.data -- node --perf-basic-prof dist/bench/pgbench-bench.js --rates 2000 --reps 1
//   perf script -i perf.data -F tid,ip,sym,dso | node dist/bench/perf-split.js [--tid N]
//
// Without --tid it takes the busiest thread named node (the bench's main thread).

import readline from 'node:readline';
import { benchArgs, numberFlag } from './support/bench-args.js';

const args = benchArgs(
  `perf script -i perf.data -F tid,ip,sym,dso | node dist/bench/perf-split.js [flags]

Where one thread's CPU went (perf's samples of a perf record -g), by binary and by nearest JavaScript function.`,
  {
    tid: { type: 'string', value: 'N', help: 'the thread (default: the busiest)' },
    top: { type: 'string', default: '30', value: 'N', help: 'how many JavaScript functions to list' },
  },
  (args) => ({
    tid: args.tid === undefined ? undefined : numberFlag('tid', args.tid, { min: 1, integer: true }),
    top: numberFlag('top', args.top, { min: 1, integer: true }),
  }),
);

interface Frame {
  symbol: string;
  binary: string;
}

const samples = new Map<number, Frame[][]>();

async function main(): Promise<void> {
  let tid: number | undefined;
  let stack: Frame[] = [];
  const end = () => {
    if (tid !== undefined && stack.length) {
      let list = samples.get(tid);
      if (!list) samples.set(tid, (list = []));
      list.push(stack);
    }
    tid = undefined;
    stack = [];
  };
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) {
      end();
      continue;
    }
    if (tid === undefined) {
      tid = Number(line.trim().split(/\s+/)[0]);
      continue;
    }
    // "\t    7ff803f7c8a8 Builtins_LoadIC (/usr/bin/node)"
    const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line);
    if (m) stack.push({ symbol: m[1], binary: m[2].split('/').pop() ?? m[2] });
  }
  end();
  if (samples.size === 0) throw new Error('no samples on stdin: pipe `perf script -F tid,ip,sym,dso` of a `perf record -g` into this');

  const chosen = args.tid ?? [...samples.entries()].sort((a, b) => b[1].length - a[1].length)[0][0];
  const stacks = samples.get(chosen);
  if (!stacks) throw new Error(`no samples of thread ${chosen}; threads: ${[...samples.keys()].join(', ')}`);
  const n = stacks.length;
  const byBinary = new Map<string, number>();
  const byJs = new Map<string, number>();
  for (const s of stacks) {
    const leaf = s[0].binary.startsWith('perf-') ? 'JIT-compiled JavaScript' : s[0].binary;
    byBinary.set(leaf, (byBinary.get(leaf) ?? 0) + 1);
    const js = s.find((f) => f.symbol.startsWith('JS:'))?.symbol ?? '(no JavaScript on the stack)';
    byJs.set(js, (byJs.get(js) ?? 0) + 1);
  }
  const pct = (v: number) => `${((100 * v) / n).toFixed(1).padStart(5)}%`;
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
  console.log(`thread ${chosen}: ${n} samples`);
  console.log('by binary the sample was in:');
  for (const [k, v] of top(byBinary, 8)) console.log(`  ${pct(v)}  ${k}`);
  console.log('by nearest JavaScript function (* optimized, ^ baseline, ~ interpreted):');
  for (const [k, v] of top(byJs, args.top)) console.log(`  ${pct(v)}  ${k.replace(/^JS:/, '').replace(/file:\/\/\/?[^ ]*?\/(dist|node_modules)\//, '$1/')}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
