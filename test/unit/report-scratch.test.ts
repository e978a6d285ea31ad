import { test } from 'vitest';
import { readResultsFile } from '../../harness/report/read-results.js';
import { writeReports } from '../../harness/report/write-reports.js';
test('render', async () => {
  const r = await readResultsFile(process.env.RESULTS ?? '/tmp/pgd-run1/results.json');
  const out = await writeReports(r, process.env.OUT ?? '/tmp/pgd-run1');
  console.log(out);
});
