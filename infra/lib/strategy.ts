// The service's deployment strategy (issue 26): ROLLING (the default), or one of ECS's own
// traffic-shifting strategies, BLUE_GREEN, LINEAR and CANARY (no CodeDeploy). Which strategy AWS
// supports depends on the service's shape; the table below is AWS's, as its pages say it (read
// 2026-12), each requirement with the page that states it.

export const STRATEGIES = ['ROLLING', 'BLUE_GREEN', 'LINEAR', 'CANARY'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

const DOCS = 'https://docs.aws.amazon.com/AmazonECS/latest/developerguide';
export const STRATEGY_DOCS: Record<StrategyName, string> = {
  ROLLING: `${DOCS}/deployment-type-ecs.html`,
  BLUE_GREEN: `${DOCS}/blue-green-deployment-implementation.html`,
  LINEAR: `${DOCS}/linear-deployment-implementation.html`,
  CANARY: `${DOCS}/canary-deployment-implementation.html`,
};
export const ALB_RESOURCES_DOC = `${DOCS}/alb-resources-for-blue-green.html`;

/** What the support matrix depends on: how the service is reached, controlled and placed. */
export interface ServiceShape {
  /** How traffic reaches the tasks: an ALB or NLB target group, Service Connect, or none (headless). */
  readonly traffic: 'ALB' | 'NLB' | 'SERVICE_CONNECT' | 'NONE';
  readonly deploymentController: 'ECS' | 'CODE_DEPLOY' | 'EXTERNAL';
  /** The action types of the ALB production listener rule (ALB only). */
  readonly productionRuleActions?: string[];
  /** For the record (no AWS page restricts a strategy by them): capacity and network mode. */
  readonly capacity: string;
  readonly networkMode: string;
}

/** This stack's shape: ECS on EC2 through an Auto Scaling group capacity provider, bridge networking, an ALB. */
export const STACK_SHAPE: ServiceShape = {
  traffic: 'ALB',
  deploymentController: 'ECS',
  productionRuleActions: ['forward'],
  capacity: 'EC2 (Auto Scaling group capacity provider)',
  networkMode: 'bridge',
};

/**
 * Why AWS does not support `strategy` for a service of this shape (with the page that says so), or
 * undefined when it does.
 *
 * - Every non-rolling strategy needs the ECS deployment controller ("Set the service deployment
 *   controller to ECS": the required-resources page of each strategy).
 * - BLUE_GREEN shifts traffic itself only behind Elastic Load Balancing (ALB, NLB), Service Connect
 *   or VPC Lattice; a headless service gets a blue/green rollout with no managed traffic shift, which
 *   is not what this stack offers it for (and deckhand's SPA ordering waits for that shift).
 * - LINEAR and CANARY need a traffic share to move: "your service must use one of the following
 *   features: Elastic Load Balancing, Service Connect" (ALB and Service Connect since their launch on
 *   30 Oct 2025; NLB since 4 Feb 2026, What's New "Amazon ECS adds linear and canary deployments for
 *   Network Load Balancer").
 * - With an ALB, the production listener rule may hold only forward actions: a rule that mixes forward
 *   with redirect, fixed-response or authentication actions fails the deployment (the ALB resources
 *   page, "Limitations").
 * - None of these pages restricts a strategy by launch type, capacity provider or network mode: with
 *   bridge networking on EC2 the target groups are of type `instance` (the ALB resources page names
 *   `ip` for awsvpc), which is what the stack creates.
 */
export function unsupportedReason(strategy: StrategyName, shape: ServiceShape): string | undefined {
  if (strategy === 'ROLLING') return undefined;
  const doc = STRATEGY_DOCS[strategy];
  if (shape.deploymentController !== 'ECS') {
    return `${strategy} needs the ECS deployment controller; this service uses ${shape.deploymentController} (${doc})`;
  }
  if (shape.traffic === 'NONE') {
    return strategy === 'BLUE_GREEN'
      ? `BLUE_GREEN shifts traffic only behind Elastic Load Balancing, Service Connect or VPC Lattice; this service has none, so ECS would not move any traffic (${doc})`
      : `${strategy} shifts a share of traffic, which needs Elastic Load Balancing or Service Connect; this service has neither (${doc})`;
  }
  if (shape.traffic === 'ALB') {
    const other = (shape.productionRuleActions ?? []).filter((a) => a !== 'forward');
    if (other.length > 0) {
      return `${strategy} with an Application Load Balancer needs a production listener rule of forward actions only; this one also has ${other.join(', ')} (${ALB_RESOURCES_DOC})`;
    }
  }
  return undefined;
}

/** The strategy settings the stack takes (`-c strategy=…` and friends, or InfraAppOptions). */
export interface StrategyOptions {
  strategy?: string;
  /** Minutes ECS keeps both revisions after all production traffic moved (BLUE_GREEN, LINEAR, CANARY). */
  bakeTimeMinutes?: number;
  /** LINEAR: the share moved per step; CANARY: the canary's share (percent, a multiple of 0.1). */
  stepPercent?: number;
  /** LINEAR: minutes between steps; CANARY: minutes the canary runs before the rest moves. */
  stepBakeTimeMinutes?: number;
}

export interface Strategy {
  readonly name: StrategyName;
  /** undefined for ROLLING. */
  readonly bakeTimeMinutes?: number;
  readonly stepPercent?: number;
  readonly stepBakeTimeMinutes?: number;
}

/** The stack's defaults: AWS's step defaults (10 % every 6 min, a 5 % canary for 10 min), 5 min bake. */
export const DEFAULT_BAKE_TIME_MINUTES = 5;
const STEP_DEFAULTS: Partial<Record<StrategyName, { percent: number; bake: number; min: number }>> = {
  // DeploymentConfiguration's LinearConfiguration / CanaryConfiguration (ECS API reference).
  LINEAR: { percent: 10, bake: 6, min: 3 },
  CANARY: { percent: 5, bake: 10, min: 0.1 },
};

function minutes(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 1440) {
    throw new Error(`${name} ${value}: whole minutes from 0 to 1440 (ECS DeploymentConfiguration)`);
  }
  return value;
}

/** Validate the settings and refuse what AWS does not support for this shape. */
export function resolveStrategy(options: StrategyOptions, shape: ServiceShape = STACK_SHAPE): Strategy {
  const raw = options.strategy ?? 'ROLLING';
  if (!(STRATEGIES as readonly string[]).includes(raw)) {
    throw new Error(`strategy ${JSON.stringify(raw)}: expected one of ${STRATEGIES.join(', ')}`);
  }
  const name = raw as StrategyName;
  const reason = unsupportedReason(name, shape);
  if (reason) throw new Error(`strategy ${name} is not supported for this service: ${reason}`);
  if (name === 'ROLLING') {
    const given = (['bakeTimeMinutes', 'stepPercent', 'stepBakeTimeMinutes'] as const).filter((k) => options[k] !== undefined);
    if (given.length > 0) throw new Error(`${given.join(', ')}: only with strategy BLUE_GREEN, LINEAR or CANARY (a rolling update has no bake time or steps)`);
    return { name };
  }
  const bakeTimeMinutes = minutes('bakeTimeMinutes', options.bakeTimeMinutes ?? DEFAULT_BAKE_TIME_MINUTES);
  const step = STEP_DEFAULTS[name];
  if (!step) {
    const given = (['stepPercent', 'stepBakeTimeMinutes'] as const).filter((k) => options[k] !== undefined);
    if (given.length > 0) throw new Error(`${given.join(', ')}: only with strategy LINEAR or CANARY (BLUE_GREEN moves all traffic at once)`);
    return { name, bakeTimeMinutes };
  }
  const stepPercent = options.stepPercent ?? step.percent;
  if (!(stepPercent >= step.min && stepPercent <= 100) || Math.abs(stepPercent * 10 - Math.round(stepPercent * 10)) > 1e-9) {
    throw new Error(`stepPercent ${stepPercent}: for ${name}, a multiple of 0.1 from ${step.min} to 100`);
  }
  const stepBakeTimeMinutes = minutes('stepBakeTimeMinutes', options.stepBakeTimeMinutes ?? step.bake);
  return { name, bakeTimeMinutes, stepPercent, stepBakeTimeMinutes };
}

/** Parse a number-valued context string (`-c bakeTimeMinutes=5`), undefined when absent. */
export function contextNumber(key: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`context ${key}: expected a number, got ${JSON.stringify(value)}`);
  return n;
}
