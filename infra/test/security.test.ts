// Security properties of the template, the deploy role's exact permissions, and the proof that a later
// `cdk deploy` does not roll the service back from a task definition revision deckhand registered.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { actions, defaultStack, logicalIds, only, roleIdFor, roleStatements, synth, type TemplateJson } from './helpers';

const { stack, template, json } = defaultStack();

describe('security properties', () => {
  test('ALB ingress comes only from the CloudFront origin-facing prefix list (no CIDR anywhere, port 80 only)', () => {
    const albSg = roleIdFor(json, stack, 'AlbSecurityGroup');
    const ingress = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties?.GroupId).includes(albSg),
    );
    assert.equal(ingress.length, 1);
    // the first deploy: no VPC origins service group named yet
    const p = evaluate(json, ingress[0].Properties ?? {}, { CloudFrontVpcOriginsSecurityGroupId: '' }) as Record<string, unknown>;
    assert.deepEqual(p.SourcePrefixListId, { Ref: 'CloudFrontPrefixListId' });
    assert.equal(p.SourceSecurityGroupId, undefined);
    assert.equal(p.CidrIp, undefined);
    assert.equal(p.CidrIpv6, undefined);
    assert.deepEqual([p.FromPort, p.ToPort], [80, 80]);
    assert.equal(json.Parameters?.CloudFrontPrefixListId?.Default, 'pl-3b927c52');
    // Nothing in the template opens anything to the world.
    for (const r of Object.values(json.Resources)) {
      if (!r.Type.startsWith('AWS::EC2::SecurityGroup')) continue;
      const ingressRules = r.Type === 'AWS::EC2::SecurityGroup' ? ((r.Properties?.SecurityGroupIngress as unknown[]) ?? []) : [r.Properties];
      for (const rule of ingressRules) assert.doesNotMatch(JSON.stringify(rule), /0\.0\.0\.0\/0|::\/0/);
    }
    template.resourcePropertiesCountIs('AWS::ElasticLoadBalancingV2::Listener', { Protocol: 'HTTP' }, 1);
  });

  test('with CloudFrontVpcOriginsSecurityGroupId, the ALB admits only that group: the VPC origin\'s interfaces, not every CloudFront address nor the VPC', () => {
    const albSg = roleIdFor(json, stack, 'AlbSecurityGroup');
    const [rule] = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties?.GroupId).includes(albSg),
    );
    const p = evaluate(json, rule.Properties ?? {}, { CloudFrontVpcOriginsSecurityGroupId: 'sg-0123456789abcdef0' });
    assert.deepEqual(p, {
      Description: rule.Properties?.Description,
      FromPort: 80,
      ToPort: 80,
      IpProtocol: 'tcp',
      GroupId: { 'Fn::GetAtt': [albSg, 'GroupId'] },
      SourceSecurityGroupId: 'sg-0123456789abcdef0',
    });
    const param = json.Parameters?.CloudFrontVpcOriginsSecurityGroupId ?? {};
    assert.equal(param.Default, '');
    const pattern = new RegExp(param.AllowedPattern as string);
    for (const ok of ['', 'sg-0123456789abcdef0', 'sg-12345678']) assert.match(ok, pattern);
    for (const bad of ['sg-', 'pl-3b927c52', '10.40.0.0/16', 'CloudFront-VPCOrigins-Service-SG']) assert.doesNotMatch(bad, pattern);
  });

  test('no load balancer on the internet: the ALB is internal, in subnets with no route beyond the VPC', () => {
    const lbs = Object.values(json.Resources).filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    assert.equal(lbs.length, 1);
    for (const lb of lbs) {
      assert.equal(lb.Properties?.Scheme, 'internal', 'internet-facing load balancer');
      const subnets = (lb.Properties?.Subnets as { Ref: string }[]).map((x) => x.Ref);
      assert.equal(subnets.length, 2);
      for (const subnet of subnets) {
        assert.equal(json.Resources[subnet].Properties?.MapPublicIpOnLaunch, false, subnet);
        // the subnet's route tables: no route at all besides the implicit local one (no IGW, no NAT)
        const tables = Object.values(json.Resources)
          .filter((r) => r.Type === 'AWS::EC2::SubnetRouteTableAssociation' && (r.Properties?.SubnetId as { Ref: string }).Ref === subnet)
          .map((r) => (r.Properties?.RouteTableId as { Ref: string }).Ref);
        assert.equal(tables.length, 1, subnet);
        const routes = Object.values(json.Resources).filter(
          (r) => r.Type === 'AWS::EC2::Route' && (r.Properties?.RouteTableId as { Ref: string }).Ref === tables[0],
        );
        assert.deepEqual(routes, [], `${subnet} routes beyond the VPC`);
      }
    }
  });

  test('no origin is reached over the internet in clear: S3 through OAC, the API through a VPC origin', () => {
    const [, dist] = only(json, 'AWS::CloudFront::Distribution');
    const origins = (dist.Properties?.DistributionConfig as { Origins: Record<string, any>[] }).Origins;
    assert.equal(origins.length, 2);
    for (const o of origins) {
      const custom = o.CustomOriginConfig as Record<string, unknown> | undefined;
      // a custom (internet) origin would have to be HTTPS only; there is none
      assert.ok(!custom || custom.OriginProtocolPolicy === 'https-only', `origin ${o.Id} over the internet in clear: ${JSON.stringify(custom)}`);
      assert.ok(o.S3OriginConfig || o.VpcOriginConfig, `origin ${o.Id} is neither S3 (OAC) nor a VPC origin`);
      if (o.S3OriginConfig) assert.ok(o.OriginAccessControlId, 'S3 through OAC');
    }
    const api = origins.find((o) => o.VpcOriginConfig);
    const [vpcOriginId, vpcOrigin] = only(json, 'AWS::CloudFront::VpcOrigin');
    assert.deepEqual(api?.VpcOriginConfig.VpcOriginId, { 'Fn::GetAtt': [vpcOriginId, 'Id'] });
    const endpoint = vpcOrigin.Properties?.VpcOriginEndpointConfig as Record<string, unknown>;
    assert.deepEqual(endpoint.Arn, { Ref: only(json, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0] });
    assert.equal(endpoint.OriginProtocolPolicy, 'http-only', 'HTTP inside the VPC: the ALB has no certificate');
    assert.deepEqual(api?.DomainName, { 'Fn::GetAtt': [only(json, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0], 'DNSName'] });
    // a CloudFront VPC origin needs an internet gateway attached to the VPC (not routed to by the ALB's subnets)
    only(json, 'AWS::EC2::VPCGatewayAttachment');
  });

  test('the instances admit only the ALB security group', () => {
    const instanceSg = roleIdFor(json, stack, 'InstanceSecurityGroup');
    const albSg = roleIdFor(json, stack, 'AlbSecurityGroup');
    const ingress = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties?.GroupId).includes(instanceSg),
    );
    assert.equal(ingress.length, 1);
    assert.deepEqual(ingress[0].Properties?.SourceSecurityGroupId, { 'Fn::GetAtt': [albSg, 'GroupId'] });
    assert.equal(json.Resources[instanceSg].Properties?.SecurityGroupIngress, undefined);
  });

  test('instances require IMDSv2 and have no SSH key', () => {
    const [, lt] = only(json, 'AWS::EC2::LaunchTemplate');
    const data = lt.Properties?.LaunchTemplateData as Record<string, any>;
    assert.equal(data.MetadataOptions.HttpTokens, 'required');
    assert.equal(data.KeyName, undefined);
  });

  test('no public bucket: all four public-access blocks on, no ACLs, no public principal allowed', () => {
    const [, bucket] = only(json, 'AWS::S3::Bucket');
    assert.deepEqual(bucket.Properties?.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    assert.equal(bucket.Properties?.AccessControl, undefined);
    assert.equal(bucket.Properties?.WebsiteConfiguration, undefined, 'no S3 website endpoint');
    const [, policy] = only(json, 'AWS::S3::BucketPolicy');
    const statements = (policy.Properties?.PolicyDocument as { Statement: Record<string, any>[] }).Statement;
    for (const s of statements.filter((x) => x.Effect === 'Allow')) {
      assert.notDeepEqual(s.Principal, { AWS: '*' });
      assert.notEqual(s.Principal, '*');
      assert.ok(s.Condition?.StringEquals?.['AWS:SourceArn'], 'every allow is conditioned on this distribution');
    }
  });

  test('the bucket policy denies CloudFront _deckhand/*', () => {
    const [, policy] = only(json, 'AWS::S3::BucketPolicy');
    const statements = (policy.Properties?.PolicyDocument as { Statement: Record<string, any>[] }).Statement;
    const deny = statements.find((s) => s.Sid === 'DenyCloudFrontDeckhandState');
    assert.deepEqual(deny, {
      Sid: 'DenyCloudFrontDeckhandState',
      Effect: 'Deny',
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [only(json, 'AWS::S3::Bucket')[0], 'Arn'] }, '/_deckhand/*']] },
    });
  });

  test('no distribution-wide custom error responses', () => {
    const [, dist] = only(json, 'AWS::CloudFront::Distribution');
    const cfg = dist.Properties?.DistributionConfig as Record<string, unknown>;
    assert.equal(cfg.CustomErrorResponses, undefined);
    assert.doesNotMatch(JSON.stringify(json), /CustomErrorResponses|ErrorCachingMinTTL|ResponsePagePath/);
  });

  test('the origin secret is a NoEcho parameter and never appears in clear', () => {
    const p = json.Parameters?.OriginVerifySecret ?? {};
    assert.equal(p.NoEcho, true);
    assert.equal(p.Default, undefined, 'no default value');
    assert.equal(p.MinLength, 32);
    const uses = JSON.stringify(json).split('{"Ref":"OriginVerifySecret"}').length - 1;
    assert.equal(uses, 2, 'used by the CloudFront origin header and the ALB rule only');
    assert.equal(Object.keys(json.Outputs ?? {}).filter((k) => /secret|token|key/i.test(k)).length, 0);
  });

  test('no Lambda functions, no custom resources, no bootstrap version rule, no assets', () => {
    const types = new Set(Object.values(json.Resources).map((r) => r.Type));
    for (const t of types) {
      assert.ok(!t.startsWith('AWS::Lambda::') && !t.startsWith('Custom::') && t !== 'AWS::CloudFormation::CustomResource', `unexpected ${t}`);
    }
    assert.equal(json.Rules, undefined);
    assert.equal(json.Parameters?.BootstrapVersion, undefined);
    assert.doesNotMatch(JSON.stringify(json), /cdk-hnb659fds|AssetParameters|\.zip"/);
  });

  test('ECR tags are immutable (deckhand never rewrites a src-<hash> tag)', () => {
    template.hasResourceProperties('AWS::ECR::Repository', { ImageTagMutability: 'IMMUTABLE' });
  });
});

// The IAM actions deckhand's runs needed, as the local stack (which enforces IAM) authorised them:
// regenerated by dev/ci/stages/55-roles.sh (dev/roles/test_roles.py), never edited by hand.
const RECORDED = JSON.parse(fs.readFileSync(path.join(__dirname, 'role-actions.json'), 'utf8')) as Record<string, string[]>;

// Granted although no recorded run calls them, each with the reason; nothing else may be.
const NOT_RECORDED: Record<string, Record<string, string>> = {
  DeployRole: {
    // The image push goes to the local registry (registry-override), which authorises nothing; these
    // are the ECR registry API calls of a push (and of reading a pushed manifest back).
    'ecr:BatchCheckLayerAvailability': 'image push (registry API)',
    'ecr:InitiateLayerUpload': 'image push (registry API)',
    'ecr:UploadLayerPart': 'image push (registry API)',
    'ecr:CompleteLayerUpload': 'image push (registry API)',
    'ecr:PutImage': 'image push (registry API)',
    'ecr:BatchGetImage': 'image push: the pushed manifest read back (registry API)',
    'ecr:GetDownloadUrlForLayer': 'image push: layers that exist are mounted/read (registry API)',
    // Only when a multipart upload (files above the part size) fails half-way.
    's3:AbortMultipartUpload': 'site upload: cleaning up a failed multipart upload',
    // Only a rollback of a deployment still in flight (tests/strategies.rs exercises it).
    'ecs:StopServiceDeployment': 'rollback of a deployment in flight: ECS\'s own rollback',
  },
  PlanRole: {
    // `plan` reads the image in ECR through the registry API; the recorded runs use the local registry
    // (registry-override), which authorises nothing.
    'ecr:GetAuthorizationToken': 'plan: the registry login before reading the image in ECR (registry API)',
    'ecr:BatchGetImage': 'plan: the image\'s manifest, for its platform (registry API)',
    'ecr:GetDownloadUrlForLayer': 'plan: the image\'s config blob, for its platform and label (registry API)',
  },
};

function granted(roleId: string): string[] {
  return [...new Set(roleStatements(json, roleId).flatMap(actions))].sort();
}

function comparePolicyWithRuns(role: 'DeployRole' | 'PlanRole'): void {
  const have = granted(roleIdFor(json, stack, role));
  const recorded = RECORDED[role] ?? [];
  const documented = Object.keys(NOT_RECORDED[role]);
  const missing = recorded.filter((a) => !have.includes(a));
  assert.deepEqual(missing, [], `${role}: the runs recorded in infra/test/role-actions.json call ${missing.join(', ')}, which infra/lib/spa-ecs-stack.ts does not grant`);
  const unused = have.filter((a) => !recorded.includes(a) && !documented.includes(a));
  assert.deepEqual(unused, [], `${role}: grants ${unused.join(', ')}, which no recorded run calls and no NOT_RECORDED entry explains`);
  const stale = documented.filter((a) => recorded.includes(a) || !have.includes(a));
  assert.deepEqual(stale, [], `${role}: NOT_RECORDED lists ${stale.join(', ')}, now recorded or no longer granted`);
}

describe('deploy role', () => {
  const roleId = roleIdFor(json, stack, 'DeployRole');
  const statements = roleStatements(json, roleId);
  const bySid = new Map(statements.map((s) => [s.Sid as string, s]));
  const str = (x: unknown): string => JSON.stringify(x);

  test('grants exactly the actions its recorded runs called (infra/test/role-actions.json)', () => {
    for (const s of statements) assert.equal(s.Effect, 'Allow');
    comparePolicyWithRuns('DeployRole');
    assert.equal(json.Resources[roleId].Properties?.ManagedPolicyArns, undefined, 'no managed policies');
  });

  test('scopes every action to the one resource it touches', () => {
    const ids = {
      repo: only(json, 'AWS::ECR::Repository')[0],
      bucket: only(json, 'AWS::S3::Bucket')[0],
      dist: only(json, 'AWS::CloudFront::Distribution')[0],
      cluster: only(json, 'AWS::ECS::Cluster')[0],
    };
    assert.deepEqual(bySid.get('EcrPush')?.Resource, { 'Fn::GetAtt': [ids.repo, 'Arn'] });
    assert.match(str(bySid.get('EcsService')?.Resource), /:service\/spa-ecs\/api"/);
    assert.deepEqual(bySid.get('EcsTasks')?.Condition, { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [ids.cluster, 'Arn'] } } });
    assert.deepEqual(bySid.get('PassTaskRoles')?.Resource, [
      { 'Fn::GetAtt': [roleIdFor(json, stack, 'TaskExecutionRole'), 'Arn'] },
      { 'Fn::GetAtt': [roleIdFor(json, stack, 'TaskRole'), 'Arn'] },
    ]);
    assert.deepEqual(bySid.get('PassTaskRoles')?.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    assert.deepEqual(bySid.get('SiteBucketList')?.Resource, { 'Fn::GetAtt': [ids.bucket, 'Arn'] });
    assert.deepEqual(bySid.get('SiteBucketObjects')?.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.bucket, 'Arn'] }, '/*']] });
    assert.match(str(bySid.get('Distribution')?.Resource), new RegExp(`:distribution/",\\{"Ref":"${ids.dist}"\\}`));
    assert.match(str(bySid.get('EcsTagOnCreate')?.Resource), /:task-definition\/spa-ecs-api:\*"/);
    assert.deepEqual(bySid.get('EcsTagOnCreate')?.Condition, { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } });
    assert.match(str(bySid.get('StackDiscovery')?.Resource), /:stack\/spa-ecs\/\*"/);
    // '*' only where IAM has no resource-level permissions (or with the cluster condition).
    const star = statements.filter((s) => s.Resource === '*').map((s) => s.Sid).sort();
    assert.deepEqual(star, ['EcrLogin', 'EcsTaskDefinitions', 'EcsTasks', 'SecretsMetadata']);
  });

  test('reads and writes SSM values (secrets sync) on exactly the two parameters the task definition reads', () => {
    const ssmArn = (name: string): unknown => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:us-east-1:123456789012:parameter/spa-ecs/${name}`]],
    });
    const valueAccess = statements.filter((s) => actions(s).some((a) => /^ssm:(Get|Put|Delete|Label)/.test(a)));
    assert.deepEqual(valueAccess.map((s) => s.Sid), ['SecretsSync']);
    assert.deepEqual(actions(bySid.get('SecretsSync') ?? {}), ['ssm:GetParameters', 'ssm:PutParameter']);
    assert.deepEqual(bySid.get('SecretsSync')?.Resource, [ssmArn('claude-api-key'), ssmArn('api-access-token')]);
    assert.equal(bySid.get('SecretsSync')?.Condition, undefined);
    // the same two the tasks read their secrets from (the execution role's grants)
    const execution = roleStatements(json, roleIdFor(json, stack, 'TaskExecutionRole')).map((s) => s.Resource);
    assert.deepEqual(execution, bySid.get('SecretsSync')?.Resource);
    // no KMS statement: the parameters use the default aws/ssm key
    assert.deepEqual(statements.flatMap(actions).filter((a) => a.startsWith('kms:')), []);
  });
});

describe('plan role', () => {
  test('grants exactly the read-only actions its recorded runs called, and no SSM value access', () => {
    for (const s of roleStatements(json, roleIdFor(json, stack, 'PlanRole'))) assert.equal(s.Effect, 'Allow');
    comparePolicyWithRuns('PlanRole');
    const ssm = roleStatements(json, roleIdFor(json, stack, 'PlanRole')).flatMap(actions).filter((a) => a.startsWith('ssm:') || a.startsWith('kms:'));
    assert.deepEqual(ssm, ['ssm:DescribeParameters'], 'PlanRole reads no secret value');
  });
});

describe('TaskDefinitionRevision.LATEST', () => {
  const serviceTaskDefinition = (t: TemplateJson): unknown => only(t, 'AWS::ECS::Service')[1].Properties?.TaskDefinition;
  const taskDefinition = (t: TemplateJson): unknown => only(t, 'AWS::ECS::TaskDefinition')[1].Properties;

  test('the service names the task family, not this stack\'s revision', () => {
    assert.equal(serviceTaskDefinition(json), 'spa-ecs-api');
    assert.doesNotMatch(JSON.stringify(serviceTaskDefinition(json)), /Ref|GetAtt|:\d+$/);
    // It still waits for the family's first revision.
    const deps = only(json, 'AWS::ECS::Service')[1].DependsOn as string[];
    assert.ok(deps.includes(logicalIds(json, 'AWS::ECS::TaskDefinition')[0]));
  });

  test('a stack change that replaces the task definition leaves the service property unchanged (no rollback of deckhand revisions)', () => {
    // A second synth with a different container setting, as a later `cdk deploy` would have.
    const after = synth({ apiMemoryReservationMiB: 512 }).json;
    assert.notDeepEqual(taskDefinition(after), taskDefinition(json), 'the task definition did change');
    assert.deepEqual(serviceTaskDefinition(after), serviceTaskDefinition(json), 'the service property did not');
    assert.deepEqual(only(after, 'AWS::ECS::Service')[1].Properties, only(json, 'AWS::ECS::Service')[1].Properties);
  });
});

describe('parameterisation', () => {
  test('app name and environment name every resource; prod has the bare app name', () => {
    const staging = synth({ appName: 'shop', environment: 'staging', account: '210987654321', region: 'eu-west-1' });
    assert.equal(staging.stack.stackName, 'shop-staging');
    staging.template.hasResourceProperties('AWS::ECS::Cluster', { ClusterName: 'shop-staging' });
    staging.template.hasResourceProperties('AWS::ECR::Repository', { RepositoryName: 'shop-staging-api' });
    staging.template.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'shop-staging-site-210987654321-eu-west-1' });
    staging.template.hasResourceProperties('AWS::ECS::TaskDefinition', { Family: 'shop-staging-api' });
    const text = JSON.stringify(staging.json);
    assert.match(text, /parameter\/shop-staging\/claude-api-key/);
    assert.match(text, /"AvailabilityZone":"eu-west-1a"/);
    assert.doesNotMatch(text, /spa-ecs|us-east-1/);
  });

  test('bad names are rejected with the offending value', () => {
    assert.throws(() => synth({ appName: 'Bad_Name' }), /app name "Bad_Name"/);
    assert.throws(() => synth({ environment: 'x' }), /environment "x"/);
    assert.throws(() => synth({ account: '42' }), /account "42": expected 12 digits/);
    assert.throws(() => synth({ availabilityZones: ['us-east-1a'] }), /availabilityZones: need at least two/);
  });
});

/** `value` as CloudFormation resolves it for these parameter values: Fn::If on the template's
 * conditions (Fn::Equals, Fn::Not, Fn::And, Fn::Or over Refs of `params`), AWS::NoValue dropped;
 * every other Ref kept as it is. */
function evaluate(json: TemplateJson, value: unknown, params: Record<string, string>): unknown {
  const conditions = (json.Conditions ?? {}) as Record<string, unknown>;
  const scalar = (v: unknown): unknown => {
    if (typeof v === 'string') return v;
    const ref = (v as { Ref?: string } | null)?.Ref;
    return ref !== undefined && ref in params ? params[ref] : JSON.stringify(v);
  };
  const holds = (c: unknown): boolean => {
    const [op, args] = Object.entries(c as Record<string, unknown[]>)[0];
    if (op === 'Condition') return holds(conditions[args as unknown as string]);
    if (op === 'Fn::Equals') return scalar(args[0]) === scalar(args[1]);
    if (op === 'Fn::Not') return !holds(args[0]);
    if (op === 'Fn::And') return args.every(holds);
    if (op === 'Fn::Or') return args.some(holds);
    throw new Error(`condition ${op} not evaluated here`);
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk).filter((x) => x !== NO_VALUE);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if ('Fn::If' in o) {
      const [name, yes, no] = o['Fn::If'] as [string, unknown, unknown];
      return walk(holds(conditions[name]) ? yes : no);
    }
    if (o.Ref === 'AWS::NoValue') return NO_VALUE;
    if (typeof o.Ref === 'string' && o.Ref in params) return params[o.Ref];
    return Object.fromEntries(
      Object.entries(o)
        .map(([k, x]) => [k, walk(x)] as const)
        .filter(([, x]) => x !== NO_VALUE),
    );
  };
  return walk(value);
}
const NO_VALUE = Symbol('AWS::NoValue');
