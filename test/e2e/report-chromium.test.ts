// report.html as a person opens it: in headless Chromium (Debian's package) with the network
// cut off, every chart canvas must be drawn (the page marks each one after checking its
// pixels) and the verdict must show. Chromium missing is a failure, never a skip.

import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { writeReports } from '../../harness/report/write-reports.js';
import { compareRow, renderCompareHtml } from '../../harness/report/compare.js';
import { loadScenarioFile } from '../../harness/scenario/load-scenario.js';
import { resolveScenarioPath } from '../../harness/scenario/bundled.js';
import type { Results } from '../../harness/results/results.js';
import { appRun, failingRun, realRun } from '../fixtures/report-results.js';

const run = promisify(execFile);
const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];

async function findChromium(): Promise<string> {
  const fromEnv = process.env.PGDRILL_CHROMIUM;
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const paths = fromEnv ? [fromEnv] : CANDIDATES.flatMap((name) => dirs.map((d) => path.join(d, name)));
  for (const p of paths) {
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  throw new Error(
    `headless Chromium is required to check report.html and was not found (looked for ${fromEnv ? `PGDRILL_CHROMIUM=${fromEnv}` : `${CANDIDATES.join(', ')} on PATH`}). ` +
      'Install it with `apt-get install -y chromium` (.ci/run does), or point PGDRILL_CHROMIUM at a Chromium binary.',
  );
}

// looked up by each test, not in beforeAll: a missing browser must fail every test, not skip them
let found: Promise<string> | undefined;
const chromium = () => (found ??= findChromium());
const tmpDirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pgdrill-chromium-'));
  tmpDirs.push(dir);
  return dir;
}

/**
 * Chromium with no way out: every host name resolves to nothing and every connection goes
 * to a proxy on a closed loopback port, so a page that tried to fetch anything would break.
 */
async function chromiumArgs(): Promise<string[]> {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    '--hide-scrollbars',
    '--host-resolver-rules=MAP * ~NOTFOUND',
    '--proxy-server=http://127.0.0.1:9',
    `--user-data-dir=${await tempDir()}`,
    '--window-size=1440,2400',
    '--virtual-time-budget=5000',
  ];
}

async function dumpDom(file: string): Promise<string> {
  const { stdout } = await run(await chromium(), [...(await chromiumArgs()), '--dump-dom', pathToFileURL(file).href], {
    timeout: 90_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function screenshot(file: string): Promise<Buffer> {
  const out = path.join(await tempDir(), 'shot.png');
  await run(await chromium(), [...(await chromiumArgs()), `--screenshot=${out}`, pathToFileURL(file).href], { timeout: 90_000 });
  return readFile(out);
}

interface CanvasState {
  id: string;
  rendered: string | undefined;
  painted: number;
  points: number;
}

function canvases(dom: string): CanvasState[] {
  return [...dom.matchAll(/<canvas\b[^>]*>/g)].map(([tag]) => {
    const attr = (name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
    return { id: attr('id') ?? '', rendered: attr('data-rendered'), painted: Number(attr('data-painted-pixels') ?? 0), points: Number(attr('data-points') ?? 0) };
  });
}

/** Share of the screenshot in the verdict badge's colour: the badge is drawn, not just in the DOM. */
async function shareOfColor(png: Buffer, hex: string): Promise<number> {
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const image = await loadImage(png);
  const canvas = createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const { data } = ctx.getImageData(0, 0, image.width, image.height);
  let hits = 0;
  for (let p = 0; p < data.length; p += 4) {
    if (Math.abs(data[p] - rgb[0]) + Math.abs(data[p + 1] - rgb[1]) + Math.abs(data[p + 2] - rgb[2]) < 10) hits++;
  }
  return hits / (data.length / 4);
}

async function reportFor(results: Results): Promise<string> {
  const dir = await tempDir();
  const { failures } = await writeReports(results, dir);
  expect(failures).toEqual([]);
  return path.join(dir, 'report.html');
}

function expectEveryChartDrawn(dom: string, expectedIds: string[]): void {
  const states = canvases(dom);
  expect(states.map((c) => c.id)).toEqual(expectedIds.map((id) => `chart-${id}`));
  for (const c of states) {
    expect(c.rendered, `${c.id} was not drawn`).toBe('true');
    expect(c.painted, `${c.id} is blank`).toBeGreaterThan(5_000);
    expect(c.points, `${c.id} has no data`).toBeGreaterThan(0);
  }
  expect(dom).toContain(`data-charts-drawn="${expectedIds.length}"`);
}

afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('report.html in headless Chromium, offline', () => {
  it('draws every chart and shows PASS for a real run of the bundled streaming-cutover scenario', async () => {
    const file = await reportFor(realRun());
    const dom = await dumpDom(file);
    expectEveryChartDrawn(dom, ['writes', 'reads', 'latency', 'lag-bytes', 'lag-time']);
    expect(dom).toMatch(/<div id="verdict" class="verdict pass" data-verdict="pass"[^>]*>PASS<\/div>/);
    expect(dom).not.toContain('<p class="chart-error"');
    // the green badge is on screen: a few thousand pixels of it at the top of the page
    expect(await shareOfColor(await screenshot(file), '#1a7f37')).toBeGreaterThan(0.0008);
  });

  it('draws every chart and shows FAIL with its reasons for a failing run', async () => {
    const file = await reportFor(failingRun());
    const dom = await dumpDom(file);
    expectEveryChartDrawn(dom, ['writes', 'reads', 'latency', 'lag-bytes', 'lag-time']);
    expect(dom).toMatch(/data-verdict="fail"[^>]*>FAIL<\/div>/);
    expect(dom).toContain('Why it failed');
    // escaped text stays text: the injected script never became an element
    expect(dom).not.toContain('<script>window.__pwned');
    expect(await shareOfColor(await screenshot(file), '#cf222e')).toBeGreaterThan(0.0008);
  });

  it('draws the app charts beside the others for a real run with an app (app-clinging-pool)', async () => {
    const dom = await dumpDom(await reportFor(appRun()));
    expectEveryChartDrawn(dom, ['writes', 'latency', 'app', 'app-latency', 'lag-bytes', 'lag-time']);
    expect(dom).toContain('<table id="downtime-views">');
    expect(dom).not.toContain('<p class="chart-error"');
  });

  it('draws the downtime bar chart of a comparison page', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'comparison.html');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, renderCompareHtml([compareRow(realRun(), 'streaming'), compareRow(failingRun(), 'streaming-with-pause')]));
    expectEveryChartDrawn(await dumpDom(file), ['downtime']);
  });

  it('opens the report of a fresh run of the bundled scenario (shortened to 12 s)', async () => {
    // imported here so that a problem in the run machinery fails this test only, not the file
    const { runScenario } = await import('../../harness/run/run-scenario.js');
    const scenario = await loadScenarioFile(await resolveScenarioPath('streaming-cutover'), ['duration=12s', 'timeline[0].at=6s']);
    const out = await tempDir();
    const { results, folder } = await runScenario(scenario, { out });
    expect(results.error).toBeNull();
    // the run writes its reports itself once writeReports is wired into it; until then, here
    const file = path.join(folder, 'report.html');
    if (!(await access(file).then(() => true, () => false))) await writeReports(results, folder);
    const dom = await dumpDom(file);
    expectEveryChartDrawn(dom, ['writes', 'reads', 'latency', 'lag-bytes', ...(results.lag.samples.some((s) => s.replayLagMs !== null) ? ['lag-time'] : [])]);
    expect(dom).toMatch(new RegExp(`data-verdict="${results.verdict}"`));
  }, 300_000);
});
