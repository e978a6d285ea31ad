// What running one step produced, before it is stamped with its times and label into a
// TimelineStepRecord. The sql and command steps each fill the fields that apply to them.

export interface StepOutcome {
  ok: boolean;
  error?: string;
  outputTail: string;
  exitCode?: number | null;
  signal?: string | null;
  rowCount?: number | null;
  sqlstate?: string;
}

/** About 4 kB of output is enough to see why a step failed without bloating results.json. */
export const OUTPUT_TAIL_BYTES = 4096;

/** Collapses whitespace and cuts long text, for labels. */
export function shorten(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3).trimEnd()}...` : flat;
}
