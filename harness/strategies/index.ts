// Strategies by name. A strategy that is not here yet is refused before the run starts.

import type { StrategyKind } from '../scenario/scenario.js';
import type { Strategy } from './strategy.js';
import { streamingStrategy } from './streaming.js';

const STRATEGIES: Partial<Record<StrategyKind, Strategy>> = {
  streaming: streamingStrategy,
};

export function strategyFor(kind: StrategyKind): Strategy | undefined {
  return STRATEGIES[kind];
}
