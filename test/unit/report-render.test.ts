// The reports rendered from results.json, checked as a user would meet them: the HTML page
// (verdict, thresholds, integrity, offline, small), junit.xml (well-formed, a failure per
// failing check) and the PNG charts (real PNGs that show data). No server, no browser.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadImage, createCanvas } from '@napi-rs/canvas';
import { renderHtml } from '../../harness/report/html-report.js';
import { renderJunit } from '../../harness/report/junit.js';
import { renderPngCharts } from '../../harness/report/png-charts.js';
import { writeReports, REPORTERS } from '../../harness/report/write-reports.js';
import { buildChartSpecs, downsample } from '../../harness/report/chart-configs.js';
import { faultWindows, timelineRows } from '../../harness/report/report-model.js';
import { readResultsFile } from '../../harness/report/read-results.js';
import { InvalidInputError } from '../../harness/errors.js';
import { HOSTILE, REAL_RUN_FILE, crashedRun, failingRun, realRun } from '../fixtures/report-results.js';

const tmpDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The JSON the page draws its charts from, read back the way the page's script does. */
function inlinedCharts(html: string): { id: string; config: { data: { datasets: { label: string; data: unknown[] }[] }; options: { plugins: { pgdrillWindows: { windows: { kind: string; label: string; from: number; to: number }[] } } } } }[] {
  const open = '<script type="application/json" id="pgdrill-charts">';
  const start = html.indexOf(open) + open.length;
  return JSON.parse(html.slice(start, html.indexOf('</script>', start)));
}

describe('report.html', () => {
  const real = renderHtml(realRun());

  it('shows the verdict, each threshold with its limit and measured value, and the integrity table', () => {
    expect(real).toContain('id="verdict" class="verdict pass" data-verdict="pass"');
    expect(real).toContain('>PASS<');
    for (const t of realRun().thresholds) {
      expect(real).toContain(`<code>${t.name}</code>`);
      expect(real).toContain(`>${t.actualText}<`);
    }
    for (const table of ['users', 'products', 'orders', 'order_items', 'audit_log']) expect(real).toContain(`<code>${table}</code>`);
    const i = realRun().integrity!;
    expect(real).toContain(`Tables: ${i.tables.length} of ${i.tables.length} match`);
    expect(real).toContain(`<strong>${i.acknowledgedWrites}</strong>`); // acknowledged writes of the ledger
    // every check the verdict rests on, as recorded
    for (const c of realRun().checks.filter((x) => !x.name.startsWith('threshold '))) expect(real).toContain(`<td>${c.name}</td>`);
  });

  it('shows downtime windows, the server write gap, cutover steps and the scenario as run', () => {
    expect(real).toContain('Writes: longest 190ms');
    expect(real).toContain('Server write gap: 308ms');
    // the downtime rules as the run applied them
    expect(real).toContain('<strong>250ms</strong>');
    expect(real).toContain('<strong>1s</strong>');
    for (const step of realRun().cutover!.steps) expect(real).toContain(`<code>${step.name}</code>`);
    expect(real).toContain('syncGate:');
    expect(real).toContain('consecutiveChecks: 3');
  });

  it('inlines chart.js and the chart data: no CDN, no external URL in any src or href', () => {
    expect(real).toContain('Chart.js v4');
    const refs = [...real.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1]);
    expect(refs.filter((ref) => /^(?:https?:)?\/\//i.test(ref))).toEqual([]);
    expect(refs.every((ref) => ref.startsWith('#'))).toBe(true);
    expect(real).not.toMatch(/<link\b/i);
    expect(inlinedCharts(real).map((c) => c.id)).toEqual(['writes', 'reads', 'latency', 'lag-bytes', 'lag-time']);
    for (const chart of inlinedCharts(real)) expect(real).toContain(`<canvas id="chart-${chart.id}"`);
  });

  it('stays under 2 MB for a 60 s run', () => {
    const bytes = Buffer.byteLength(real);
    expect(bytes).toBeLessThan(2 * 1024 * 1024);
    // chart.js is ~210 kB of it; the data must not dominate
    expect(bytes).toBeLessThan(600 * 1024);
  });

  it('says why a failing run failed and shades its fault windows on every chart', () => {
    const html = renderHtml(failingRun());
    expect(html).toContain('data-verdict="fail"');
    expect(html).toContain('>FAIL<');
    // the reasons are the failing checks, as recorded
    expect(html).toContain('threshold writeDowntime &lt; 5s: writeDowntime: measured 7.4s');
    expect(html).toContain('3 acknowledged write(s) lost');
    expect(html).toContain('1 of 5 tables differ');
    expect(html).toContain('faults: kill replica could not be healed');
    expect(html).toContain('<tr class="bad"><td><code>orders</code>');
    const charts = inlinedCharts(html);
    for (const chart of charts) {
      const labels = chart.config.options.plugins.pgdrillWindows.windows.map((w) => `${w.kind}:${w.label}`);
      expect(labels).toEqual(expect.arrayContaining(['fault:pause primary', 'fault:kill replica', 'cutover:cutover', 'write-downtime:writes down']));
    }
  });

  it('escapes text from the run: nothing in results.json can add markup or script', () => {
    const html = renderHtml(failingRun());
    expect(html).not.toContain('<script>window.__pwned');
    expect(html).not.toContain('<b>bold</b>');
    expect(html).toContain('&lt;/script&gt;&lt;script&gt;window.__pwned = 1&lt;/script&gt;');
    // chart.js, the chart data and the drawing script, nothing else
    expect(html.match(/<script\b/g)).toHaveLength(3);
  });

  it('renders a run that crashed in setup: no charts, integrity not verified, the error shown', () => {
    const html = renderHtml(crashedRun());
    expect(html).toContain('data-verdict="fail"');
    expect(html).toContain('the run did not finish: replica never became ready');
    expect(html).toContain('write ledger (unknown): the write ledger could not be checked: integrity was not verified');
    expect(html).toContain('Integrity was not verified');
    expect(html).toContain('Nothing was measured over time in this run.');
    expect(html).not.toContain('<script type="application/json" id="pgdrill-charts">');
  });
});

describe('chart data', () => {
  it('places each per-second bar over the second it counts, in seconds from the start of the load', () => {
    const writes = buildChartSpecs(realRun()).find((s) => s.id === 'writes')!;
    const ok = writes.config.data.datasets[0] as { label: string; data: { x: number; y: number }[] };
    expect(ok.label).toBe('ok');
    expect(ok.data[1]).toEqual({ x: 1.5, y: realRun().load.writes.perSecond[1].ok });
  });

  it('keeps peaks when a long run has more points than a chart can show', () => {
    const points: [number, number | null][] = Array.from({ length: 10_000 }, (_, i) => [i, i === 5_000 ? 900 : 1]);
    const merged = downsample(points, 'max');
    expect(merged.length).toBeLessThanOrEqual(1500);
    expect(Math.max(...merged.map((p) => p[1] ?? 0))).toBe(900);
  });

  it('pairs a fault with its healing and extends one never healed to the end of the load', () => {
    const r = failingRun();
    const load = r.phases.find((p) => p.name === 'load')!;
    const windows = faultWindows(r);
    expect(windows.map((w) => [w.label, Math.round(w.endMs - w.startMs), w.open])).toEqual([
      ['pause primary', 2000, false],
      ['kill replica', Math.round(load.endMs - (load.startMs + 40_000)), true],
    ]);
  });

  it('lists timeline events as sentences and folds connection churn into one line per stream', () => {
    const rows = timelineRows(realRun());
    expect(rows.some((r) => r.text === 'step promote done in 64.8 ms: replica promoted')).toBe(true);
    expect(rows.filter((r) => r.kind === 'workload-connection-lost').map((r) => r.text)).toContain('write connections lost: 20 time(s) over the run');
  });
});

// A minimal XML 1.0 well-formedness checker: elements nest and close, attributes are quoted
// and unique, every & starts a known entity, nothing follows the root. Enough to know a CI
// system's XML parser will accept the file; it returns the element tree for assertions.
interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`not well-formed XML at offset ${i}: ${why} (near ${JSON.stringify(src.slice(i, i + 40))})`);
  };
  const isNameStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c === ':';
  const isNameChar = (c: string) => isNameStart(c) || (c >= '0' && c <= '9') || c === '-' || c === '.';
  const isSpace = (c: string) => c === ' ' || c === '\n' || c === '\t' || c === '\r';
  const skipSpace = () => {
    while (i < src.length && isSpace(src[i])) i++;
  };
  const name = () => {
    const start = i;
    if (!isNameStart(src[i] ?? '')) fail('expected a name');
    while (i < src.length && isNameChar(src[i])) i++;
    return src.slice(start, i);
  };
  const checkChar = (c: string) => {
    const code = c.charCodeAt(0);
    if (code < 0x20 && c !== '\n' && c !== '\t' && c !== '\r') fail(`control character U+${code.toString(16)}`);
  };
  const entity = (): string => {
    const end = src.indexOf(';', i);
    if (end < 0 || end - i > 10) fail('& without an entity');
    const ref = src.slice(i + 1, end);
    i = end + 1;
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (ref in named) return named[ref];
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number(ref.slice(1)));
    return fail(`unknown entity &${ref};`);
  };
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (src.startsWith('<!--', i)) {
        const end = src.indexOf('-->', i);
        if (end < 0) fail('unclosed comment');
        i = end + 3;
      } else return;
    }
  };
  const element = (): XmlElement => {
    if (src[i] !== '<') fail('expected <');
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      const before = i;
      skipSpace();
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail('expected space before an attribute');
      const attr = name();
      if (attr in el.attrs) fail(`duplicate attribute ${attr}`);
      skipSpace();
      if (src[i] !== '=') fail('expected =');
      i++;
      skipSpace();
      const quote = src[i];
      if (quote !== '"' && quote !== "'") fail('unquoted attribute value');
      i++;
      let value = '';
      while (src[i] !== quote) {
        if (i >= src.length) fail('unclosed attribute value');
        if (src[i] === '<') fail('< in an attribute value');
        if (src[i] === '&') value += entity();
        else {
          checkChar(src[i]);
          value += src[i++];
        }
      }
      i++;
      el.attrs[attr] = value;
    }
    for (;;) {
      if (i >= src.length) fail(`unclosed <${el.name}>`);
      if (src.startsWith('</', i)) {
        i += 2;
        const closing = name();
        if (closing !== el.name) fail(`</${closing}> closes <${el.name}>`);
        skipSpace();
        if (src[i] !== '>') fail('expected >');
        i++;
        return el;
      }
      if (src.startsWith('<!--', i)) skipMisc();
      else if (src.startsWith('<![CDATA[', i)) {
        const end = src.indexOf(']]>', i);
        if (end < 0) fail('unclosed CDATA');
        el.text += src.slice(i + 9, end);
        i = end + 3;
      } else if (src[i] === '<') el.children.push(element());
      else if (src[i] === '&') el.text += entity();
      else {
        checkChar(src[i]);
        el.text += src[i++];
      }
    }
  };
  if (src.startsWith('<?xml', i)) {
    const end = src.indexOf('?>', i);
    if (end < 0) fail('unclosed declaration');
    i = end + 2;
  }
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== src.length) fail('content after the root element');
  return root;
}

function testcases(root: XmlElement): XmlElement[] {
  return root.children.flatMap((suite) => suite.children.filter((c) => c.name === 'testcase'));
}

describe('junit.xml', () => {
  it('has one passing testcase per check (thresholds in their own suite) and per compared table', () => {
    const r = realRun();
    const root = parseXml(renderJunit(r));
    expect(root.name).toBe('testsuites');
    const cases = testcases(root);
    const names = cases.map((c) => c.attrs.name);
    for (const t of r.thresholds) expect(names).toContain(`${t.name} ${t.limit}`);
    for (const c of r.checks.filter((x) => !x.name.startsWith('threshold '))) expect(names).toContain(c.name);
    for (const t of r.integrity!.tables) expect(names).toContain(`table ${t.table}`);
    expect(cases).toHaveLength(r.checks.length + r.integrity!.tables.length);
    expect(cases.every((c) => c.children.every((x) => x.name === 'system-out'))).toBe(true);
    expect(root.attrs.failures).toBe('0');
    expect(root.attrs.errors).toBe('0');
    const downtime = cases.find((c) => c.attrs.name === 'writeDowntime < 5s')!;
    expect(downtime.children[0].text).toBe('writeDowntime: measured 190ms (limit < 5s)');
  });

  it('carries a <failure> with the evidence for each invalid check and failing table', () => {
    const run = failingRun();
    const root = parseXml(renderJunit(run));
    const failed = testcases(root).filter((c) => c.children.some((x) => x.name === 'failure'));
    const failure = (name: string) => failed.find((c) => c.attrs.name === name)?.children.find((x) => x.name === 'failure');
    expect(failure('writeDowntime < 5s')?.attrs.message).toBe('writeDowntime: measured 7.4s (limit < 5s)');
    expect(failure('lostWrites == 0')?.attrs.message).toContain('measured 3');
    expect(failure('write ledger')?.attrs.message).toContain('3 acknowledged write(s) lost');
    expect(failure('table orders')?.attrs.message).toMatch(/orders: \d+ rows on primary, \d+ on replica/);
    expect(failure('tables')).toBeDefined();
    expect(failure('sequences')).toBeDefined();
    expect(failure('faults')).toBeDefined();
    const invalid = run.checks.filter((c) => c.valid === false).map((c) => (c.name.startsWith('threshold ') ? c.name.slice(10) : c.name));
    expect(failed.map((c) => c.attrs.name).sort()).toEqual([...invalid, 'table orders'].sort());
    expect(root.attrs.failures).toBe(String(invalid.length + 1));
    // the hostile text of a lost write's finding is carried as text, intact
    expect(failure('faults')?.text).toContain(HOSTILE);
  });

  it('reports an unknown check as an error: a run that did not finish, integrity never verified', () => {
    const root = parseXml(renderJunit(crashedRun()));
    const cases = testcases(root);
    const run = cases.find((c) => c.attrs.name === 'run finished')!;
    expect(run.children.find((x) => x.name === 'failure')?.attrs.message).toContain('replica never became ready');
    const ledger = cases.find((c) => c.attrs.name === 'write ledger')!;
    expect(ledger.children.find((x) => x.name === 'error')?.attrs.message).toMatch(/^unknown \(could not run\)/);
    expect(Number(root.attrs.errors)).toBeGreaterThanOrEqual(5);
  });

  it('stays well-formed whatever the messages hold: markup, quotes, control characters', () => {
    const r = failingRun();
    r.checks.push({ name: 'threshold p99WriteLatency < 1s', valid: false, detail: `odd \u0001\u001b[31m "text" <x> & 'y'` });
    expect(() => parseXml(renderJunit(r))).not.toThrow();
    expect(() => parseXml('<a><b></a>')).toThrow(/closes/);
    expect(() => parseXml('<a x="1 & 2"/>')).toThrow(/entity/);
  });
});

/** Distinct colours and the spread of brightness over a decoded PNG. */
async function pixelStats(png: Buffer): Promise<{ width: number; height: number; colors: number; stddev: number }> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const { data } = ctx.getImageData(0, 0, image.width, image.height);
  const colors = new Set<number>();
  let sum = 0;
  let sumSq = 0;
  const n = data.length / 4;
  for (let p = 0; p < data.length; p += 4) {
    colors.add((data[p] << 16) | (data[p + 1] << 8) | data[p + 2]);
    const y = 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  return { width: image.width, height: image.height, colors: colors.size, stddev: Math.sqrt(sumSq / n - mean * mean) };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** How much of an image region is the colour given, within a small tolerance. */
async function shareOfColor(png: Buffer, rgb: [number, number, number]): Promise<number> {
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const { data } = ctx.getImageData(0, 0, image.width, image.height);
  let hits = 0;
  for (let p = 0; p < data.length; p += 4) {
    if (Math.abs(data[p] - rgb[0]) + Math.abs(data[p + 1] - rgb[1]) + Math.abs(data[p + 2] - rgb[2]) < 12) hits++;
  }
  return hits / (data.length / 4);
}

describe('PNG charts', () => {
  it('renders lag, throughput and latency as PNGs that show data', async () => {
    const pngs = await renderPngCharts(realRun());
    expect(pngs.map((p) => p.file)).toEqual(['throughput.png', 'latency.png', 'lag.png']);
    for (const { file, png } of pngs) {
      expect(png.subarray(0, 8).equals(PNG_SIGNATURE), file).toBe(true);
      const stats = await pixelStats(png);
      expect(stats.width, file).toBe(1200);
      expect(stats.colors, file).toBeGreaterThan(50);
      expect(stats.stddev, file).toBeGreaterThan(10);
    }
    // the ok bars of 200 writes/s cover a good part of the throughput chart in their green
    const throughput = pngs.find((p) => p.file === 'throughput.png')!.png;
    expect(await shareOfColor(throughput, [0x4c, 0x9a, 0x6a])).toBeGreaterThan(0.15);
  });

  it('still writes every PNG for a run with nothing to chart, saying so', async () => {
    const pngs = await renderPngCharts(crashedRun());
    expect(pngs).toHaveLength(3);
    for (const { png } of pngs) expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  });
});

describe('writeReports', () => {
  it('writes summary.md, report.html, the three PNGs and junit.xml into the run folder', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pgdrill-report-'));
    tmpDirs.push(dir);
    const { files, failures } = await writeReports(failingRun(), dir);
    expect(failures).toEqual([]);
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['junit.xml', 'lag.png', 'latency.png', 'report.html', 'summary.md', 'throughput.png']);
    expect(await readFile(path.join(dir, 'report.html'), 'utf8')).toContain('data-verdict="fail"');
    expect(await readFile(path.join(dir, 'summary.md'), 'utf8')).toMatch(/^## ❌ FAIL · /);
    expect(Object.keys(REPORTERS)).toEqual(['html', 'png', 'junit', 'markdown']);
  });

  it('writes what it can when a reporter fails, and names the one that failed', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pgdrill-report-'));
    tmpDirs.push(dir);
    const broken = realRun() as unknown as { lag: unknown };
    broken.lag = { samples: null, maxReplayBytes: null, maxReplayLagMs: null };
    const { files, failures } = await writeReports(broken as never, dir);
    expect(failures.map((f) => f.reporter)).toEqual(['html', 'png']);
    expect(files.map((f) => path.basename(f))).toEqual(['summary.md', 'junit.xml']);
  });
});

describe('readResultsFile', () => {
  it('reads a results.json and refuses a file that is not one, naming it', async () => {
    expect((await readResultsFile(REAL_RUN_FILE)).scenario.name).toBe('streaming-cutover');
    const dir = await mkdtemp(path.join(tmpdir(), 'pgdrill-report-'));
    tmpDirs.push(dir);
    const { writeFile } = await import('node:fs/promises');
    const bogus = path.join(dir, 'package.json');
    await writeFile(bogus, JSON.stringify({ name: 'x' }));
    await expect(readResultsFile(bogus)).rejects.toThrow(InvalidInputError);
    await expect(readResultsFile(bogus)).rejects.toThrow(/not a pgdrill results.json: missing verdict/);
    await expect(readResultsFile(path.join(dir, 'nope.json'))).rejects.toThrow(/cannot read it/);
  });
});

describe('report.html, replication', () => {
  it('draws who streamed from whom, TLS as pg_stat_ssl saw it, and each standby compared with the final primary', () => {
    const base = realRun();
    const sample = (t: number, node: string, upstream: string) => ({ ...base.lag.samples[0], t, node, upstream, state: 'streaming' });
    const results = {
      ...base,
      scenario: { ...base.scenario, tls: { mode: 'verify-full' as const, clientCerts: true } },
      lag: { ...base.lag, samples: [sample(100, 'replica2', 'primary'), sample(900, 'replica2', 'replica'), sample(1400, 'primary', 'replica')] },
      events: [
        ...base.events,
        { t: 50, kind: 'tls-ready' as const, mode: 'verify-full', clientCerts: true, ca: 'CN=pgdrill throwaway CA x', caFingerprint: 'AB:CD', serverNames: ['primary', 'replica'] },
        { t: 950, kind: 'replication-tls' as const, node: 'replica2', upstream: 'replica', ssl: true, version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', clientDn: '/CN=replicator' },
      ],
      integrity: {
        ...base.integrity!,
        standbys: [{ node: 'primary', role: 'rejoined' as const, tables: base.integrity!.tables, rowCountMismatches: 0, hashMismatches: 0, schemaDifferences: [] }],
      },
    };
    const html = renderHtml(results);
    expect(html).toContain('<h3>Who streamed from whom</h3>');
    expect(html).toMatch(/<code>replica2<\/code><\/td><td><code>replica<\/code>/);
    expect(html).toContain('<h3>TLS: on</h3>');
    expect(html).toContain('ssl = true');
    expect(html).toContain('/CN=replicator');
    expect(html).toContain('rejoined old primary');
  });

  it('says TLS was off when the scenario had none, and says so plainly when no standby was sampled', () => {
    const base = realRun();
    const lag = { ...base.lag, samples: [{ ...base.lag.samples[0], t: 100, node: 'replica', upstream: 'primary' }] };
    expect(renderHtml({ ...base, lag }).includes('<h3>TLS: off</h3>')).toBe(true);
    // results of older versions: samples without an upstream
    expect(renderHtml(base).includes('The lag samples name no upstream (results of an older pgdrill).')).toBe(true);
  });
});
