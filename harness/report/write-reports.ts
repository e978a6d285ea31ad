// Writes a run's reports into its folder: small reporters behind one interface, picked from a
// map by name. results.json is written by the run itself; everything here is rendered from it.
// One reporter failing (a canvas binary missing, say) does not keep the others from writing.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Results } from '../results/results.js';
import { renderHtml } from './html-report.js';
import { renderJunit } from './junit.js';
import { renderMarkdownSummary } from './markdown-summary.js';
import { writePngCharts } from './png-charts.js';
import { errorMessage } from '../errors.js';

export interface Reporter {
  /** writes its files into the run folder and returns their paths */
  write(results: Results, folder: string): Promise<string[]>;
}

export const REPORTERS = {
  html: {
    async write(results, folder) {
      const file = path.join(folder, 'report.html');
      await writeFile(file, renderHtml(results));
      return [file];
    },
  },
  png: {
    write: (results, folder) => writePngCharts(results, folder),
  },
  junit: {
    async write(results, folder) {
      const file = path.join(folder, 'junit.xml');
      await writeFile(file, renderJunit(results));
      return [file];
    },
  },
  // for CI: $GITHUB_STEP_SUMMARY, a pull request comment (--summary-md appends it elsewhere too)
  markdown: {
    async write(results, folder) {
      const file = path.join(folder, 'summary.md');
      await writeFile(file, renderMarkdownSummary(results));
      return [file];
    },
  },
} satisfies Record<string, Reporter>;

export type ReporterName = keyof typeof REPORTERS;
export const DEFAULT_REPORTERS: ReporterName[] = ['markdown', 'html', 'png', 'junit'];

export interface ReportFailure {
  reporter: ReporterName;
  error: string;
}

export interface WrittenReports {
  files: string[];
  /** reporters that threw; their files are missing, the others were written */
  failures: ReportFailure[];
}

export async function writeReports(results: Results, folder: string, reporters: ReporterName[] = DEFAULT_REPORTERS): Promise<WrittenReports> {
  const files: string[] = [];
  const failures: ReportFailure[] = [];
  // one after the other: the PNG reporter is CPU-bound and the machines have 2 cores
  for (const name of reporters) {
    try {
      files.push(...(await REPORTERS[name].write(results, folder)));
    } catch (err) {
      failures.push({ reporter: name, error: errorMessage(err) });
    }
  }
  return { files, failures };
}
