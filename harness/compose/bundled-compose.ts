// The compose files checked in under compose/: one per bundled scenario, named after the
// scenario file. `pgdrill compose --all compose` writes them; a unit test keeps them in sync.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { listBundledScenarios } from '../scenario/bundled.js';
import { loadScenarioFile } from '../scenario/load-scenario.js';
import { composeFile } from './compose-export.js';

export interface BundledCompose {
  /** the scenario file */
  scenarioFile: string;
  /** file name under compose/ */
  fileName: string;
  text: string;
}

/** Whether a YAML file describes servers at all (other files in scenarios/, e.g. comparisons, have no nodes). */
async function hasNodes(file: string): Promise<boolean> {
  try {
    const doc = YAML.parse(await readFile(file, 'utf8'), { merge: true }) as { nodes?: unknown } | null;
    return typeof doc?.nodes === 'object' && doc.nodes !== null;
  } catch {
    return true; // a broken scenario: loading it reports its problems
  }
}

export async function bundledComposeFiles(overrides: string[] = []): Promise<BundledCompose[]> {
  const out: BundledCompose[] = [];
  for (const s of await listBundledScenarios()) {
    if (!(await hasNodes(s.file))) continue;
    const scenario = await loadScenarioFile(s.file, overrides);
    // Patroni clusters have no compose form (see composeFile)
    if (scenario.patroni) continue;
    const base = path.basename(s.file);
    out.push({ scenarioFile: s.file, fileName: base.replace(/\.ya?ml$/i, '.yaml'), text: composeFile(scenario, { source: `scenarios/${base}` }) });
  }
  return out;
}
