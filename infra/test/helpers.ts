import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, type InfraAppOptions } from '../lib/app';
import type { SpaEcsStack } from '../lib/spa-ecs-stack';

export interface Synthesized {
  stack: SpaEcsStack;
  template: Template;
  json: TemplateJson;
}

export interface CfnResourceJson {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Metadata?: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export interface TemplateJson {
  Resources: Record<string, CfnResourceJson>;
  Parameters?: Record<string, Record<string, unknown>>;
  Outputs?: Record<string, { Value: unknown; Description?: string }>;
  Rules?: Record<string, unknown>;
  [k: string]: unknown;
}

/** Synthesize the stack (cdk-nag registered as in the real app) and wrap it for assertions. */
export function synth(options: InfraAppOptions = {}): Synthesized {
  const { stack } = buildApp({ nag: false, ...options });
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as TemplateJson };
}

let cached: Synthesized | undefined;
/** The default stack (spa-ecs, prod, us-east-1), synthesized once per test file. */
export function defaultStack(): Synthesized {
  cached ??= synth();
  return cached;
}

/** Logical ids of the resources of one type. */
export function logicalIds(json: TemplateJson, type: string): string[] {
  return Object.entries(json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}

/** The one resource of a type (fails when there are zero or several). */
export function only(json: TemplateJson, type: string): [string, CfnResourceJson] {
  const ids = logicalIds(json, type);
  if (ids.length !== 1) throw new Error(`expected exactly one ${type}, found ${ids.length}: ${ids.join(', ')}`);
  return [ids[0], json.Resources[ids[0]]];
}

/** Policy statements of the inline policies attached to a role (by its logical id). */
export function roleStatements(json: TemplateJson, roleLogicalId: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of Object.values(json.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (r.Properties?.Roles as unknown[]) ?? [];
    if (!roles.some((x) => JSON.stringify(x) === JSON.stringify({ Ref: roleLogicalId }))) continue;
    const doc = r.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] };
    out.push(...doc.Statement);
  }
  return out;
}

/** Actions of a statement as a sorted array. */
export function actions(statement: Record<string, unknown>): string[] {
  const a = statement.Action;
  return (Array.isArray(a) ? (a as string[]) : [a as string]).slice().sort();
}

export function roleIdFor(json: TemplateJson, stack: SpaEcsStack, path: string): string {
  const construct = stack.node.findChild(path).node.defaultChild;
  if (!construct) throw new Error(`no default child at ${path}`);
  const id = stack.getLogicalId(construct as never);
  if (!json.Resources[id]) throw new Error(`no resource ${id}`);
  return id;
}

const ROUTER_PLACEHOLDER = '<infra/functions/spa-router.js>';

/**
 * Normalise what may change without a change to the stack: 64-hex asset hashes (none today: the
 * template has no assets) and the CloudFront Function source, which lives in its own file with its
 * own tests (snapshot.test.ts checks the template embeds it byte for byte).
 */
export function normalise(template: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(template)) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  for (const r of Object.values(copy.Resources)) {
    if (r.Type === 'AWS::CloudFront::Function') r.Properties.FunctionCode = ROUTER_PLACEHOLDER;
  }
  return JSON.parse(JSON.stringify(copy).replace(/[0-9a-f]{64}/g, '<asset-hash>'));
}
