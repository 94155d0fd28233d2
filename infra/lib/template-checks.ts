import { CfnResource, type Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** A checkov check skipped on one resource, written into its template Metadata with the reason. */
export interface CheckovSkip {
  readonly path: string;
  readonly id: string;
  readonly comment: string;
}

/** A cfn-lint rule ignored on one resource (template Metadata `cfn-lint.config.ignore_checks`). */
export interface CfnLintIgnore {
  readonly path: string;
  readonly rule: string;
  readonly reason: string;
}

const CUSTOM_DOMAIN =
  'The ALB is internal (isolated subnets, no internet route) and reached only by CloudFront through its VPC origin, over ' +
  'AWS\'s network, on port 80 from the CloudFront origin-facing prefix list; the listener forwards only with the secret ' +
  'X-Origin-Verify header. It has no certificate for its *.elb.amazonaws.com name; with a custom domain + ACM certificate, ' +
  'add an HTTPS listener (README "Custom domain").';

export const CHECKOV_SKIPS: CheckovSkip[] = [
  {
    path: 'VpcFlowLogs',
    id: 'CKV_AWS_158',
    comment: 'CloudWatch Logs encrypts at rest with AWS-owned keys; the flow logs carry no secrets and a CMK costs per key.',
  },
  {
    path: 'ApiLogGroup',
    id: 'CKV_AWS_158',
    comment: 'CloudWatch Logs encrypts at rest with AWS-owned keys; the API never logs secrets (they come from SSM).',
  },
  {
    path: 'Repository',
    id: 'CKV_AWS_136',
    comment: 'Images are encrypted at rest with AES-256 (S3-managed); they contain no secrets (runtime secrets come from SSM).',
  },
  {
    path: 'InstanceRole/DefaultPolicy',
    id: 'CKV_AWS_111',
    comment: 'Statements added by the CDK ECS cluster for the container agent (ecs:Submit*, ecs:RegisterContainerInstance), same as AmazonEC2ContainerServiceforEC2Role.',
  },
  {
    path: 'LaunchTemplate',
    id: 'CKV_AWS_88',
    comment:
      'Public subnets without a NAT gateway (cost): instances need a public address to reach ECS/ECR. ' +
      'The instance security group admits only the ALB on the dynamic port range; no SSH, no key pair, IMDSv2 required.',
  },
  {
    path: 'Alb',
    id: 'CKV_AWS_91',
    comment: 'The ALB only serves CloudFront\'s /api/* behaviour; the API logs its own requests to CloudWatch Logs.',
  },
  { path: 'Alb/HttpListener', id: 'CKV_AWS_2', comment: CUSTOM_DOMAIN },
  { path: 'Alb/HttpListener', id: 'CKV_AWS_103', comment: CUSTOM_DOMAIN },
  {
    path: 'SiteBucket',
    id: 'CKV_AWS_18',
    comment: 'Read only by CloudFront (OAC), written only by deckhand, whose release records (_deckhand/releases) audit every change.',
  },
  {
    path: 'Distribution',
    id: 'CKV_AWS_68',
    comment: 'No WAF web ACL in the base stack (cost); attach one with webAclId when the app needs rate limiting.',
  },
  {
    path: 'Distribution',
    id: 'CKV_AWS_86',
    comment: 'Standard logging needs a log bucket with ACLs enabled; left off in the base stack, enable per environment.',
  },
  {
    path: 'Distribution',
    id: 'CKV_AWS_174',
    comment:
      'The default *.cloudfront.net certificate does not allow raising the viewer TLS minimum; with a custom domain set ' +
      'minimumProtocolVersion TLSv1.2_2021 (README "Custom domain").',
  },
];

export const CFN_LINT_IGNORES: CfnLintIgnore[] = [
  { path: 'Vpc/publicSubnet1/Subnet', rule: 'W3010', reason: 'Explicit AZs on purpose: offline, deterministic synth (no AZ lookup).' },
  { path: 'Vpc/publicSubnet2/Subnet', rule: 'W3010', reason: 'Explicit AZs on purpose: offline, deterministic synth (no AZ lookup).' },
  { path: 'Vpc/originSubnet1/Subnet', rule: 'W3010', reason: 'Explicit AZs on purpose: offline, deterministic synth (no AZ lookup).' },
  { path: 'Vpc/originSubnet2/Subnet', rule: 'W3010', reason: 'Explicit AZs on purpose: offline, deterministic synth (no AZ lookup).' },
];

/** BLUE_GREEN, LINEAR, CANARY (lib/strategy.ts): the service's DependsOn names what it also Refs. */
export const TRAFFIC_SHIFTING_CFN_LINT_IGNORES: CfnLintIgnore[] = [
  {
    path: 'Service',
    rule: 'W3005',
    reason:
      'The CDK makes a load-balanced service depend on its target group\'s listener rules (so the group is attached ' +
      'before ECS registers targets); with an alternate target the service also Refs those rules in AdvancedConfiguration.',
  },
];

function cfnResourceAt(stack: Stack, path: string): CfnResource {
  let node: IConstruct = stack;
  for (const part of path.split('/')) {
    const child = node.node.tryFindChild(part);
    if (!child) throw new Error(`template check metadata: no construct ${stack.node.path}/${path}`);
    node = child;
  }
  const resource = node instanceof CfnResource ? node : node.node.defaultChild;
  if (!(resource instanceof CfnResource)) throw new Error(`template check metadata: ${path} is not a CloudFormation resource`);
  return resource;
}

/** Write the checkov skips and cfn-lint ignores into the resources' Metadata. */
export function applyTemplateCheckMetadata(stack: Stack, extraIgnores: CfnLintIgnore[] = []): void {
  const skips = new Map<CfnResource, { id: string; comment: string }[]>();
  for (const s of CHECKOV_SKIPS) {
    const r = cfnResourceAt(stack, s.path);
    skips.set(r, [...(skips.get(r) ?? []), { id: s.id, comment: s.comment }]);
  }
  for (const [r, list] of skips) r.addMetadata('checkov', { skip: list });
  const ignores = new Map<CfnResource, string[]>();
  for (const i of [...CFN_LINT_IGNORES, ...extraIgnores]) {
    const r = cfnResourceAt(stack, i.path);
    ignores.set(r, [...(ignores.get(r) ?? []), i.rule]);
  }
  for (const [r, rules] of ignores) r.addMetadata('cfn-lint', { config: { ignore_checks: rules } });
}
