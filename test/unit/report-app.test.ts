// The app in the reports, rendered from a real run of the bundled app-clinging-pool scenario:
// the three downtime views side by side with the reason the app's is longer, the app section,
// the app charts (in report.html and as app.png), the terminal summary and junit.xml; and a
// run without an app renders as before (no app.png, no app section).
import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../harness/report/html-report.js';
import { renderSummary } from '../../harness/report/terminal-summary.js';
import { renderJunit } from '../../harness/report/junit.js';
import { renderPngCharts } from '../../harness/report/png-charts.js';
import { buildChartSpecs } from '../../harness/report/chart-configs.js';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import { appRun, realRun } from '../fixtures/report-results.js';

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ');

describe('a run with an app, in report.html', () => {
  const r = appRun();
  const html = renderHtml(r);
  const page = text(html);

  it('puts the server write gap, the client view and the app view of the cutover side by side', () => {
    const table = /<table id="downtime-views">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    expect(text(table)).toMatch(/server write gap client view \(writes\) app view 463ms 370ms 6\.77s/);
  });

  it('says why the app was down longer: the connection errors in its log after the cutover', () => {
    expect(page).toMatch(/The app's users were down 6\.4s longer than the database's clients \(6\.77s against 370ms\)\. Its log has 601 database connection errors after the cutover \(most: not queryable/);
  });

  it('shows the app: its command, status codes, the failed check and the log scan', () => {
    expect(html).toContain('id="app"');
    expect(page).toContain('node ../app/clinging-pool/server.js');
    expect(page).toContain('200: 666, 201: 661, 503: 673');
    expect(page).toMatch(/GET \/health 200 503 after the cutover 5 FAIL/);
    expect(page).toMatch(/601 lines that look like database connection errors from the end of the cutover/);
    expect(page).toContain('App downtime 6.77s');
  });

  it('draws the app charts with the app downtime strip on every chart', () => {
    const specs = buildChartSpecs(r);
    expect(specs.map((s) => s.id)).toEqual(['writes', 'latency', 'app', 'app-latency', 'lag-bytes', 'lag-time']);
    const app = specs.find((s) => s.id === 'app')!;
    expect(app.config.data.datasets.map((d) => d.label)).toEqual(['ok', 'failed', 'timeout', 'dropped']);
    for (const s of specs) expect(s.config.options.plugins.pgdrillWindows.windows.some((w) => w.kind === 'app-downtime'), s.id).toBe(true);
  });
});

describe('a run with an app, elsewhere', () => {
  it('writes app.png with the failed requests in red', async () => {
    const pngs = await renderPngCharts(appRun());
    expect(pngs.map((p) => p.file)).toEqual(['throughput.png', 'latency.png', 'lag.png', 'app.png']);
    const image = await loadImage(pngs[3].png);
    const canvas = createCanvas(image.width, image.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(image, 0, 0);
    const { data } = ctx.getImageData(0, 0, image.width, image.height);
    let red = 0;
    for (let p = 0; p < data.length; p += 4) if (Math.abs(data[p] - 0xd1) + Math.abs(data[p + 1] - 0x24) + Math.abs(data[p + 2] - 0x2f) < 12) red++;
    expect(red / (data.length / 4)).toBeGreaterThan(0.01);
  });

  it('prints the app requests, the three views, the log scan and the reason in the terminal', () => {
    const out = renderSummary(appRun()).replace(/[│┌┐└┘├┤┬┴┼─]/g, ' ').replace(/\s+/g, ' ');
    expect(out).toContain('app requests 2000 intended: 1327 ok, 673 failed, 0 timed out, 0 dropped');
    expect(out).toContain('downtime: 3 views server write gap 463ms; client view (writes) 370ms; app view 6.77s');
    expect(out).toContain('app log 601 database connection error line(s) after the cutover (601 not queryable)');
    expect(out).toMatch(/app view The app's users were down 6\.4s longer/);
  });

  it('lists the app checks in junit.xml, the failed one with its evidence', () => {
    const xml = renderJunit(appRun());
    expect(xml).toMatch(/<testcase classname="pgdrill\.app-clinging-pool\.run" name="app stayed up" time="0">\s*<system-out>/);
    expect(xml).toMatch(/name="app check\[0\] \(GET \/health\)" time="0">\s*<failure message="after the cutover: GET \/health answered 503/);
    expect(xml).toMatch(/name="appLogErrors == 0"[^>]*>\s*<failure/);
  });
});

describe('a run without an app', () => {
  it('renders as before: no app section, no app chart, no app.png', async () => {
    const r = realRun();
    expect(r.app).toBeUndefined();
    const html = renderHtml(r);
    expect(html).not.toContain('id="app"');
    expect(html).not.toContain('downtime-views');
    expect(buildChartSpecs(r).map((s) => s.id)).not.toContain('app');
    expect((await renderPngCharts(r)).map((p) => p.file)).toEqual(['throughput.png', 'latency.png', 'lag.png']);
  });
});
