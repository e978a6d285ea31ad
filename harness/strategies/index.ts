// Strategies by name. A strategy that is not here yet is refused before the run starts.

import type { StrategyKind } from '../scenario/scenario.js';
import type { Strategy } from './strategy.js';
import { streamingStrategy } from './streaming.js';
import { dumpRestoreStrategy } from './dump-restore.js';
import { logicalStrategy } from './logical.js';
import { failoverStrategy } from './failover.js';
import { patroniStrategy } from './patroni.js';
import { externalStrategy } from './external.js';

const STRATEGIES: Partial<Record<StrategyKind, Strategy>> = {
  streaming: streamingStrategy,
  'dump-restore': dumpRestoreStrategy,
  logical: logicalStrategy,
  failover: failoverStrategy,
  patroni: patroniStrategy,
  external: externalStrategy,
};

/** the kinds a scenario can use now, for messages */
export function supportedStrategies(): StrategyKind[] {
  return Object.keys(STRATEGIES) as StrategyKind[];
}

export function strategyFor(kind: StrategyKind): Strategy | undefined {
  return STRATEGIES[kind];
}
