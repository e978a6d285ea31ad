// Runs a cutover's steps in order, recording each one's start, end, success and detail in
// cutover.steps[] and on the timeline, so the report shows where the time went.

import type { Recorder } from '../record/recorder.js';
import type { CutoverStep } from '../record/records.js';
import { errorMessage } from '../errors.js';

export class StepFailed extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(`step "${step}" failed: ${message}`);
  }
}

export class StepRunner {
  /** `steps`: an outcome's list to add to, when the steps continue a cutover already recorded */
  constructor(
    private readonly recorder: Recorder,
    readonly steps: CutoverStep[] = [],
  ) {}

  /** Runs a step; `body` returns its detail. A throw marks it failed and is rethrown as StepFailed. */
  async run(name: string, body: () => Promise<string>): Promise<void> {
    const startMs = this.recorder.now();
    this.recorder.event('cutover-step-start', { step: name });
    try {
      const detail = await body();
      this.finish(name, startMs, true, detail);
    } catch (err) {
      this.finish(name, startMs, false, errorMessage(err));
      throw err instanceof StepFailed ? err : new StepFailed(name, errorMessage(err));
    }
  }

  /**
   * Records a step timed by what was observed rather than by running it (the endpoint noticed
   * the promotion at endMs, counted from startMs).
   */
  record(name: string, startMs: number, endMs: number, ok: boolean, detail: string): void {
    this.steps.push({ name, startMs, endMs, ok, detail });
    this.recorder.event('cutover-step', { step: name, ok, durationMs: Math.round((endMs - startMs) * 10) / 10, detail });
  }

  private finish(name: string, startMs: number, ok: boolean, detail: string): void {
    const endMs = this.recorder.now();
    this.steps.push({ name, startMs, endMs, ok, detail });
    this.recorder.event('cutover-step', { step: name, ok, durationMs: Math.round((endMs - startMs) * 10) / 10, detail });
  }
}
