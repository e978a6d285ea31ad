// What PostgreSQL itself prescribes, whichever runtime hosts the server: the signal of each
// shutdown mode, and what a base backup copied from a live data directory must leave out.

import type { StopMode } from '../scenario/scenario.js';

/** pg_ctl's shutdown modes as postmaster signals (smart: wait for clients; fast: end them; immediate: crash-like). */
export const STOP_SIGNALS: Record<StopMode, NodeJS.Signals> = { smart: 'SIGTERM', fast: 'SIGINT', immediate: 'SIGQUIT' };

/** How long each mode may take before pgdrill calls the server stuck. */
export const STOP_TIMEOUTS: Record<StopMode, number> = { smart: 120_000, fast: 60_000, immediate: 30_000 };

/** Directories a base backup carries empty: their contents are runtime state the copy must not inherit. */
export const BACKUP_EMPTY_DIRS: readonly string[] = [
  'pg_wal', // replayed from the source (streaming or restore_command), never copied
  'pg_replslot', // the source's slots would pin WAL on the copy forever
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
];

/** Top-level files a base backup leaves out: they describe the source's running postmaster, or an old backup. */
export const BACKUP_SKIP_FILES: readonly string[] = ['postmaster.pid', 'postmaster.opts', 'backup_label.old', 'tablespace_map.old'];
