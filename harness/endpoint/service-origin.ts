// How a service's program is named in results, the report and `pgdrill doctor`.

import type { ServiceProgramInfo } from '../runtime/runtime.js';

/** "PgBouncer 1.18.0 (Debian package pgbouncer 1.18.0-1+deb12u1, /usr/sbin/pgbouncer)" */
export function describeServiceProgramInfo(info: ServiceProgramInfo): string {
  const name = info.program === 'pgbouncer' ? 'PgBouncer' : 'HAProxy';
  return `${name} ${info.version} (${info.packageOrigin}, ${info.path})`;
}
