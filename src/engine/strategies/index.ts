import type { StrategyType } from '../../core/spec.js';
import { planAbTest } from './ab-test.js';
import { planBlueGreen } from './blue-green.js';
import { planCanary } from './canary.js';
import type { Planner } from './planner.js';
import { planRecreate } from './recreate.js';
import { planRolling } from './rolling.js';
import { planShadow } from './shadow.js';

const planners: Record<StrategyType, Planner> = {
  recreate: planRecreate,
  rolling: planRolling,
  blueGreen: planBlueGreen,
  canary: planCanary,
  shadow: planShadow,
  abTest: planAbTest,
};

export function plannerFor(type: StrategyType): Planner {
  return planners[type];
}
