import { type Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

export interface NagAcknowledgement {
  /** Construct path below the stack, e.g. `Distribution`. */
  readonly path: string;
  /** Rule id as cdk-nag reports it, e.g. `AwsSolutions-CFR4` or `AwsSolutions-IAM5[Resource::*]`. */
  readonly id: string;
  readonly reason: string;
}

const MANAGED = 'arn:<AWS::Partition>:iam::aws:policy/service-role';

/**
 * Every cdk-nag (AwsSolutionsChecks) finding this stack accepts, on the one construct it applies to,
 * with the reason. Anything not listed here fails the synth.
 */
export function nagAcknowledgements(stack: Stack): NagAcknowledgement[] {
  const stackArnPattern = `arn:<AWS::Partition>:cloudformation:${stack.region}:${stack.account}:stack/${stack.stackName}/*`;
  const serviceDeployments = `arn:<AWS::Partition>:ecs:${stack.region}:${stack.account}:service-deployment/${stack.stackName}/api/*`;
  const siteObjects = `Resource::<${stack.getLogicalId(stack.node.findChild('SiteBucket').node.defaultChild as never)}.Arn>/*`;
  const roleWildcards = (role: 'DeployRole' | 'PlanRole'): NagAcknowledgement[] => [
    {
      path: `${role}/DefaultPolicy/Resource`,
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only for actions without resource-level permissions (ecr:GetAuthorizationToken, ecs:RegisterTaskDefinition, ' +
        'ecs:DescribeTaskDefinition, ssm:DescribeParameters — metadata only, never values) and for ecs:ListTasks/DescribeTasks ' +
        '(and StopTask of the pre-deploy task: ECS generates task ids), ' +
        'which are scoped by an ecs:cluster condition.',
    },
    {
      path: `${role}/DefaultPolicy/Resource`,
      id: `AwsSolutions-IAM5[${siteObjects}]`,
      reason: 'Objects of the one site bucket: deckhand publishes, reads and garbage-collects keys it cannot know in advance.',
    },
    {
      path: `${role}/DefaultPolicy/Resource`,
      id: `AwsSolutions-IAM5[Resource::${stackArnPattern}]`,
      reason: 'The stack ARN ends in a generated id; the wildcard covers only this stack name (DescribeStacks for `stack:`).',
    },
    {
      path: `${role}/DefaultPolicy/Resource`,
      id: `AwsSolutions-IAM5[Resource::${serviceDeployments}]`,
      reason:
        'The deployments of the one service: ECS names each service-deployment/<cluster>/<service>/<id> with an id it ' +
        'generates (DescribeServiceDeployments to follow a rollout stage by stage; StopServiceDeployment for a rollback).',
    },
  ];
  const taskFamilyRevisions = `arn:<AWS::Partition>:ecs:${stack.region}:${stack.account}:task-definition/${stack.stackName}-api:*`;
  return [
    {
      path: 'DeployRole/DefaultPolicy/Resource',
      id: `AwsSolutions-IAM5[Resource::${taskFamilyRevisions}]`,
      reason:
        'ecs:TagResource on the revisions of the one task family (a new revision number is unknown in advance), and only ' +
        'when ecs:CreateAction is RegisterTaskDefinition: the tags deckhand puts on a revision it registers; ecs:RunTask ' +
        'of the new revision in the one cluster (ecs:cluster condition): the backend.pre-deploy task.',
    },
    {
      path: 'InstanceRole/Resource',
      id: `AwsSolutions-IAM4[Policy::${MANAGED}/AmazonEC2ContainerServiceforEC2Role]`,
      reason: 'The AWS-maintained policy for the ECS container agent on EC2; it tracks the agent\'s needs.',
    },
    {
      path: 'InstanceRole/DefaultPolicy/Resource',
      id: 'AwsSolutions-IAM5[Action::ecs:Submit*]',
      reason: 'Added by the CDK ECS cluster for the container agent (same as the managed ECS-for-EC2 policy).',
    },
    {
      path: 'InstanceRole/DefaultPolicy/Resource',
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Container agent calls without resource-level permissions (ecr:GetAuthorizationToken, ecs:DiscoverPollEndpoint), added by the CDK ECS cluster.',
    },
    {
      path: 'TaskExecutionRole/Resource',
      id: `AwsSolutions-IAM4[Policy::${MANAGED}/AmazonECSTaskExecutionRolePolicy]`,
      reason: 'The AWS-maintained task execution policy (image pull from ECR, awslogs); SSM access is a separate exact grant.',
    },
    {
      path: 'TaskDefinition/Resource',
      id: 'AwsSolutions-ECS2',
      reason: 'Only non-secret settings (NODE_ENV, PORT) are plain environment variables; secrets come from SSM via `secrets`.',
    },
    {
      path: 'AutoScalingGroup/ASG',
      id: 'AwsSolutions-AS3',
      reason: 'Scaling is driven by the ECS capacity provider; ECS service events (which deckhand streams) report capacity problems.',
    },
    {
      path: 'Alb/Resource',
      id: 'AwsSolutions-ELB2',
      reason: 'The ALB only serves CloudFront\'s /api/* behaviour; request logs are the API\'s own (CloudWatch Logs). Enable per environment if needed.',
    },
    {
      path: 'SiteBucket/Resource',
      id: 'AwsSolutions-S1',
      reason: 'The bucket is read only by CloudFront (OAC) and written only by deckhand, whose release records audit every change.',
    },
    {
      path: 'Distribution/Resource',
      id: 'AwsSolutions-CFR1',
      reason: 'A public website: no geographic restriction is wanted.',
    },
    {
      path: 'Distribution/Resource',
      id: 'AwsSolutions-CFR2',
      reason: 'No WAF web ACL in the base stack (cost); attach one with webAclId when the app needs rate limiting.',
    },
    {
      path: 'Distribution/Resource',
      id: 'AwsSolutions-CFR3',
      reason: 'Standard logging needs a log bucket with ACLs enabled; left off in the base stack, enable per environment.',
    },
    {
      path: 'Distribution/Resource',
      id: 'AwsSolutions-CFR4',
      reason:
        'The distribution uses the default *.cloudfront.net certificate, with which the viewer TLS minimum cannot be raised. ' +
        'With a custom domain and ACM certificate, set minimumProtocolVersion TLSv1.2_2021 (README "Custom domain").',
    },
    ...roleWildcards('DeployRole'),
    ...roleWildcards('PlanRole'),
    // BLUE_GREEN, LINEAR, CANARY only (lib/strategy.ts): the role ECS shifts traffic with.
    ...(stack.node.tryFindChild('EcsInfrastructureRole')
      ? [
          {
            path: 'EcsInfrastructureRole/Resource',
            id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers]',
            reason:
              "The AWS-maintained policy of the Amazon ECS infrastructure role for load balancers (ECS developer guide): AWS " +
              'changes it as ECS\'s traffic shifting needs new calls (version 6, February 2026); a copy would fall behind.',
          },
        ]
      : []),
    ...promoteSourceWildcards(stack),
    {
      path: 'Distribution/Origin1',
      id: 'Annotation::@aws-cdk/aws-cloudfront-origins:listBucketSecurityRisk',
      reason:
        'ListBucket lets a missing key be a 404 instead of 403. A listing is never reachable: defaultRootObject is ' +
        'index.html and the SPA router rewrites every extension-less path, including /, to /index.html.',
    },
    {
      path: 'Vpc/publicSubnet1/Subnet',
      id: 'CloudFormation-Validate::W3010',
      reason: 'Availability zones are explicit on purpose: synth must be offline and deterministic (no AZ lookup).',
    },
    {
      path: 'Vpc/publicSubnet2/Subnet',
      id: 'CloudFormation-Validate::W3010',
      reason: 'Availability zones are explicit on purpose: synth must be offline and deterministic (no AZ lookup).',
    },
    {
      path: 'Vpc/originSubnet1/Subnet',
      id: 'CloudFormation-Validate::W3010',
      reason: 'Availability zones are explicit on purpose: synth must be offline and deterministic (no AZ lookup).',
    },
    {
      path: 'Vpc/originSubnet2/Subnet',
      id: 'CloudFormation-Validate::W3010',
      reason: 'Availability zones are explicit on purpose: synth must be offline and deterministic (no AZ lookup).',
    },
  ];
}

/** The source environment's wildcards a promoting stack's DeployRole reads (promoteSourceStatements). */
function promoteSourceWildcards(stack: Stack): NagAcknowledgement[] {
  const source = (stack as Stack & { promoteSource?: { stack: string; bucket: string; crossAccount: boolean } }).promoteSource;
  if (!source) return [];
  const acks: NagAcknowledgement[] = [
    {
      path: 'DeployRole/DefaultPolicy/Resource',
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${source.bucket}/*]`,
      reason:
        'GetObject (only) on the objects of the environment promoted from: its release records, stored objects and site ' +
        'files, whose keys deckhand cannot know in advance (a promotion copies them server-side).',
    },
  ];
  // In another account there is no DescribeStacks statement (promoteFromAccount): nothing to acknowledge.
  if (source.crossAccount) return acks;
  return [
    ...acks,
    {
      path: 'DeployRole/DefaultPolicy/Resource',
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:${stack.region}:${stack.account}:stack/${source.stack}/*]`,
      reason: 'DescribeStacks (only) of the stack promoted from: its ARN ends in a generated id; the wildcard covers only that stack name.',
    },
  ];
}

function findPath(stack: Stack, path: string): IConstruct {
  let node: IConstruct = stack;
  for (const part of path.split('/')) {
    const child = node.node.tryFindChild(part);
    if (!child) throw new Error(`cdk-nag acknowledgement: no construct ${stack.node.path}/${path}`);
    node = child;
  }
  return node;
}

export function acknowledgeNagFindings(stack: Stack): void {
  for (const ack of nagAcknowledgements(stack)) {
    Validations.of(findPath(stack, ack.path)).acknowledge({ id: ack.id, reason: ack.reason });
  }
}
