// Where the app's process group is handed to pgdrill's reaper, the part that removes what a
// SIGKILLed pgdrill left behind (issue 17). The reaper's registration API was not on main when
// this was written: these two calls are the one place to connect it. Until then they do
// nothing, and an app outlives only a pgdrill that was killed with SIGKILL (every other way
// out, Ctrl-C and crashes included, stops it: app-process.ts).

export interface ReapableProcess {
  kind: 'app';
  pid: number;
  /** the process group to kill: the app runs in one of its own */
  pgid: number;
}

/** Called once the app has been spawned. Not yet connected to a reaper (see above). */
export function registerForReaper(_process: ReapableProcess): void {}

/** Called once pgdrill has stopped the app's group itself. */
export function forgetForReaper(_pgid: number): void {}
