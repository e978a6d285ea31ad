// Errors that carry a stable code and the process exit code the CLI must use (product.md).
// Messages say what went wrong and what to do about it.

export const EXIT = { ok: 0, failed: 1, invalid: 2, environment: 3, interrupted: 130 } as const;

export class PgdrillError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem in a scenario or on the command line: where, what was there, what is allowed. */
export interface Problem {
  path: string;
  message: string;
}

/** The scenario or the command line is invalid; nothing was started (exit 2). */
export class InvalidInputError extends PgdrillError {
  constructor(
    readonly problems: Problem[],
    readonly source = 'scenario',
  ) {
    super(
      `${source} is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.path ? p.path + ': ' : ''}${p.message}`).join('\n'),
      'PGDRILL_INVALID_INPUT',
      EXIT.invalid,
    );
  }
}

/** The environment failed: binaries missing, Docker unreachable, a node never became ready (exit 3). */
export class EnvironmentError extends PgdrillError {
  constructor(message: string, code = 'PGDRILL_ENVIRONMENT', options?: { cause?: unknown }) {
    super(message, code, EXIT.environment, options);
  }
}

/** The run was interrupted (Ctrl-C / SIGTERM); everything started was cleaned up (exit 130). */
export class InterruptedError extends PgdrillError {
  constructor(message = 'interrupted') {
    super(message, 'PGDRILL_INTERRUPTED', EXIT.interrupted);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
