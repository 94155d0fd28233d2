// One test per resource of the base stack (issue 6), against the synthesized template.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { actions, defaultStack, logicalIds, only, roleIdFor, roleStatements } from './helpers';

const { stack, template, json } = defaultStack();
const ref = (type: string): { Ref: string } => ({ Ref: only(json, type)[0] });
const getAtt = (type: string, attr: string): { 'Fn::GetAtt': [string, string] } => ({ 'Fn::GetAtt': [only(json, type)[0], attr] });

describe('network', () => {
  test('AWS::EC2::VPC: one VPC with DNS support', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.40.0.0/16', EnableDnsHostnames: true, EnableDnsSupport: true });
  });

  test('AWS::EC2::InternetGateway: attached to the VPC', () => {
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    template.hasResourceProperties('AWS::EC2::VPCGatewayAttachment', {
      VpcId: ref('AWS::EC2::VPC'),
      InternetGatewayId: ref('AWS::EC2::InternetGateway'),
    });
  });

  test('AWS::EC2::Subnet: two public and two isolated subnets in two explicit AZs, no NAT', () => {
    const subnets = logicalIds(json, 'AWS::EC2::Subnet').map((id) => json.Resources[id].Properties ?? {});
    assert.equal(subnets.length, 4);
    assert.deepEqual(subnets.map((s) => s.AvailabilityZone).sort(), ['us-east-1a', 'us-east-1a', 'us-east-1b', 'us-east-1b']);
    for (const s of subnets) assert.equal(s.MapPublicIpOnLaunch, false);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
  });

  test('AWS::EC2::RouteTable + SubnetRouteTableAssociation + Route: the public subnets route to the internet gateway, the isolated ones nowhere', () => {
    template.resourceCountIs('AWS::EC2::RouteTable', 4);
    template.resourceCountIs('AWS::EC2::SubnetRouteTableAssociation', 4);
    const routes = template.findResources('AWS::EC2::Route', {
      Properties: { DestinationCidrBlock: '0.0.0.0/0', GatewayId: ref('AWS::EC2::InternetGateway') },
    });
    assert.equal(Object.keys(routes).length, 2);
    template.resourceCountIs('AWS::EC2::Route', 2);
    const tables = new Set(logicalIds(json, 'AWS::EC2::SubnetRouteTableAssociation').map((id) => JSON.stringify(json.Resources[id].Properties?.RouteTableId)));
    assert.equal(tables.size, 4, 'each subnet has its own route table');
  });

  test('AWS::EC2::FlowLog: VPC flow logs (rejected traffic) to CloudWatch Logs', () => {
    template.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'REJECT', LogDestinationType: 'cloud-watch-logs' });
  });

  test('AWS::EC2::SecurityGroup (ALB): HTTP 80 from the CloudFront prefix list only, egress to the dynamic ports', () => {
    const albSg = roleIdFor(json, stack, 'AlbSecurityGroup');
    const sg = json.Resources[albSg].Properties ?? {};
    assert.equal(sg.SecurityGroupIngress, undefined, 'no inline ingress');
    assert.deepEqual(sg.SecurityGroupEgress, [
      { CidrIp: getAtt('AWS::EC2::VPC', 'CidrBlock'), Description: 'ALB to container dynamic host ports', FromPort: 32768, IpProtocol: 'tcp', ToPort: 65535 },
    ]);
    const ingress = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties?.GroupId) === JSON.stringify({ 'Fn::GetAtt': [albSg, 'GroupId'] }),
    );
    assert.equal(ingress.length, 1, 'exactly one ingress rule (the prefix list weighs ~55 of the 60-rule quota)');
    assert.deepEqual(
      { ...ingress[0].Properties, Description: undefined },
      {
        Description: undefined,
        FromPort: 80,
        ToPort: 80,
        IpProtocol: 'tcp',
        GroupId: { 'Fn::GetAtt': [albSg, 'GroupId'] },
        // the VPC origins service group once its id is a parameter, else the origin-facing prefix list
        SourcePrefixListId: { 'Fn::If': ['AdmitVpcOriginsServiceGroup', { Ref: 'AWS::NoValue' }, { Ref: 'CloudFrontPrefixListId' }] },
        SourceSecurityGroupId: { 'Fn::If': ['AdmitVpcOriginsServiceGroup', { Ref: 'CloudFrontVpcOriginsSecurityGroupId' }, { Ref: 'AWS::NoValue' }] },
      },
    );
  });

  test('AWS::EC2::SecurityGroup (instances): ingress only from the ALB security group on the dynamic port range', () => {
    const albSg = roleIdFor(json, stack, 'AlbSecurityGroup');
    const instSg = roleIdFor(json, stack, 'InstanceSecurityGroup');
    assert.equal(json.Resources[instSg].Properties?.SecurityGroupIngress, undefined);
    const ingress = Object.values(json.Resources).filter(
      (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && JSON.stringify(r.Properties?.GroupId) === JSON.stringify({ 'Fn::GetAtt': [instSg, 'GroupId'] }),
    );
    assert.equal(ingress.length, 1);
    assert.deepEqual(ingress[0].Properties, {
      Description: 'ALB to container dynamic host ports',
      FromPort: 32768,
      ToPort: 65535,
      IpProtocol: 'tcp',
      GroupId: { 'Fn::GetAtt': [instSg, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [albSg, 'GroupId'] },
    });
  });
});

describe('logs', () => {
  test('AWS::Logs::LogGroup: the tasks log group has a name and a retention', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { LogGroupName: '/ecs/spa-ecs/api', RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
    });
  });
});

describe('ECS', () => {
  test('AWS::ECS::Cluster: named after the app, Container Insights on', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterName: 'spa-ecs',
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  test('AWS::EC2::LaunchTemplate: ECS-optimized AL2023 AMI via SSM, IMDSv2 required, no SSH key, encrypted root volume', () => {
    const [, lt] = only(json, 'AWS::EC2::LaunchTemplate');
    const data = lt.Properties?.LaunchTemplateData as Record<string, unknown>;
    const imageParam = (data.ImageId as { Ref: string }).Ref;
    assert.equal(json.Parameters?.[imageParam]?.Type, 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>');
    assert.equal(json.Parameters?.[imageParam]?.Default, '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id');
    assert.deepEqual(data.MetadataOptions, { HttpPutResponseHopLimit: 2, HttpTokens: 'required' });
    assert.equal(data.KeyName, undefined, 'no key pair');
    assert.match(JSON.stringify(data.UserData), /ECS_CLUSTER=/);
    assert.match(JSON.stringify(data.BlockDeviceMappings), /"Encrypted":true/);
  });

  test('AWS::AutoScaling::AutoScalingGroup: launch template, public subnets, protected from scale-in for managed termination', () => {
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '1',
      MaxSize: '4',
      NewInstancesProtectedFromScaleIn: true,
      LaunchTemplate: Match.objectLike({ LaunchTemplateId: ref('AWS::EC2::LaunchTemplate') }),
    });
    const [, asg] = only(json, 'AWS::AutoScaling::AutoScalingGroup');
    assert.deepEqual(
      asg.Properties?.VPCZoneIdentifier,
      logicalIds(json, 'AWS::EC2::Subnet').filter((id) => id.includes('public')).map((id) => ({ Ref: id })),
      'the two public subnets',
    );
  });

  test('AWS::IAM::Role + AWS::IAM::InstanceProfile: instance role with AmazonEC2ContainerServiceforEC2Role', () => {
    const roleId = roleIdFor(json, stack, 'InstanceRole');
    const role = json.Resources[roleId].Properties ?? {};
    assert.match(JSON.stringify(role.ManagedPolicyArns), /service-role\/AmazonEC2ContainerServiceforEC2Role/);
    assert.match(JSON.stringify(role.AssumeRolePolicyDocument), /ec2\.amazonaws\.com/);
    template.hasResourceProperties('AWS::IAM::InstanceProfile', { Roles: [{ Ref: roleId }] });
  });

  test('AWS::ECS::CapacityProvider: the ASG with managed scaling, managed termination protection and managed draining', () => {
    template.hasResourceProperties('AWS::ECS::CapacityProvider', {
      Name: 'spa-ecs-asg',
      AutoScalingGroupProvider: {
        AutoScalingGroupArn: ref('AWS::AutoScaling::AutoScalingGroup'),
        ManagedScaling: Match.objectLike({ Status: 'ENABLED', TargetCapacity: 100 }),
        ManagedTerminationProtection: 'ENABLED',
        ManagedDraining: Match.absent(),
      },
    });
  });

  test('AWS::ECS::ClusterCapacityProviderAssociations: the capacity provider on the cluster', () => {
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      Cluster: ref('AWS::ECS::Cluster'),
      CapacityProviders: [ref('AWS::ECS::CapacityProvider')],
    });
  });

  test('AWS::IAM::Role (task execution): AmazonECSTaskExecutionRolePolicy + ssm:GetParameters on exactly the two parameters', () => {
    const roleId = roleIdFor(json, stack, 'TaskExecutionRole');
    assert.match(JSON.stringify(json.Resources[roleId].Properties?.ManagedPolicyArns), /service-role\/AmazonECSTaskExecutionRolePolicy/);
    const statements = roleStatements(json, roleId);
    assert.equal(statements.length, 2);
    for (const [s, name] of statements.map((s, i) => [s, ['claude-api-key', 'api-access-token'][i]] as const)) {
      assert.deepEqual(actions(s), ['ssm:GetParameters']);
      assert.equal(s.Effect, 'Allow');
      assert.match(JSON.stringify(s.Resource), new RegExp(`:parameter/spa-ecs/${name}"`));
    }
  });

  test('AWS::ECS::TaskDefinition: container api on port 3000, awslogs, secrets from SSM', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'spa-ecs-api',
      NetworkMode: 'bridge',
      RequiresCompatibilities: ['EC2'],
      ExecutionRoleArn: Match.anyValue(),
      TaskRoleArn: Match.anyValue(),
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'api',
          Essential: true,
          PortMappings: [{ ContainerPort: 3000, HostPort: 0, Protocol: 'tcp' }],
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: { 'awslogs-group': { Ref: roleIdFor(json, stack, 'ApiLogGroup') }, 'awslogs-stream-prefix': 'api', 'awslogs-region': 'us-east-1' },
          },
          Secrets: [
            { Name: 'CLAUDE_API_KEY', ValueFrom: Match.anyValue() },
            { Name: 'API_ACCESS_TOKEN', ValueFrom: Match.anyValue() },
          ],
        }),
      ],
    });
  });

  test('AWS::ECS::Service: circuit breaker with rollback, capacity provider strategy, behind the ALB', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceName: 'api',
      Cluster: ref('AWS::ECS::Cluster'),
      DesiredCount: { Ref: 'ApiDesiredCount' },
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
      }),
      DeploymentController: { Type: 'ECS' },
      CapacityProviderStrategy: [{ CapacityProvider: ref('AWS::ECS::CapacityProvider'), Weight: 1, Base: 0 }],
      LaunchType: Match.absent(),
      LoadBalancers: [{ ContainerName: 'api', ContainerPort: 3000, TargetGroupArn: ref('AWS::ElasticLoadBalancingV2::TargetGroup') }],
    });
  });
});

describe('ALB', () => {
  test('AWS::ElasticLoadBalancingV2::LoadBalancer: internal, in the isolated subnets, ALB security group, drops invalid headers', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internal',
      Subnets: logicalIds(json, 'AWS::EC2::Subnet').filter((id) => id.includes('origin')).map((id) => ({ Ref: id })),
      Type: 'application',
      SecurityGroups: [{ 'Fn::GetAtt': [roleIdFor(json, stack, 'AlbSecurityGroup'), 'GroupId'] }],
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]),
    });
  });

  test('AWS::ElasticLoadBalancingV2::TargetGroup: instance targets, health check /api/health', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'instance',
      Protocol: 'HTTP',
      HealthCheckPath: '/api/health',
      Matcher: { HttpCode: '200' },
    });
  });

  test('AWS::ElasticLoadBalancingV2::Listener: HTTP 80, default action a fixed 403', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '403', ContentType: 'text/plain', MessageBody: 'Forbidden' } }],
    });
  });

  test('AWS::ElasticLoadBalancingV2::ListenerRule: forwards only when X-Origin-Verify matches the secret parameter', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::ListenerRule', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      ListenerArn: ref('AWS::ElasticLoadBalancingV2::Listener'),
      Conditions: [{ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Origin-Verify', Values: [{ Ref: 'OriginVerifySecret' }] } }],
      Actions: [{ Type: 'forward', TargetGroupArn: ref('AWS::ElasticLoadBalancingV2::TargetGroup') }],
    });
  });
});

describe('ECR', () => {
  test('AWS::ECR::Repository: <app>-api, scan on push, immutable tags, lifecycle keeps the last 30 images', () => {
    const [, repo] = only(json, 'AWS::ECR::Repository');
    const p = repo.Properties ?? {};
    assert.equal(p.RepositoryName, 'spa-ecs-api');
    assert.deepEqual(p.ImageScanningConfiguration, { ScanOnPush: true });
    assert.equal(p.ImageTagMutability, 'IMMUTABLE');
    const policy = JSON.parse((p.LifecyclePolicy as { LifecyclePolicyText: string }).LifecyclePolicyText) as {
      rules: { selection: Record<string, unknown>; action: { type: string } }[];
    };
    assert.deepEqual(policy.rules.map((r) => [r.selection.tagStatus, r.selection.countType, r.selection.countNumber, r.action.type]), [
      ['any', 'imageCountMoreThan', 30, 'expire'],
    ]);
    assert.equal(repo.DeletionPolicy, 'Retain');
  });
});

describe('S3 + CloudFront', () => {
  test('AWS::S3::Bucket: block public access, SSE, BucketOwnerEnforced, versioned', () => {
    template.hasResource('AWS::S3::Bucket', {
      Properties: {
        BucketName: 'spa-ecs-site-123456789012-us-east-1',
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        VersioningConfiguration: { Status: 'Enabled' },
      },
      DeletionPolicy: 'Retain',
    });
  });

  test('AWS::S3::BucketPolicy: TLS only; CloudFront (OAC, this distribution) may GetObject and ListBucket; _deckhand/* denied', () => {
    const [, policy] = only(json, 'AWS::S3::BucketPolicy');
    const statements = (policy.Properties?.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
    const bucketArn = getAtt('AWS::S3::Bucket', 'Arn');
    const objects = { 'Fn::Join': ['', [bucketArn, '/*']] };
    const distributionId = ref('AWS::CloudFront::Distribution');
    assert.deepEqual(statements[0], {
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Resource: [bucketArn, objects],
    });
    const allow = statements.filter((s) => s.Effect === 'Allow');
    assert.equal(allow.length, 1);
    assert.deepEqual(actions(allow[0]), ['s3:GetObject', 's3:ListBucket']);
    assert.deepEqual(allow[0].Principal, { Service: 'cloudfront.amazonaws.com' });
    assert.deepEqual(allow[0].Resource, [objects, bucketArn], 'objects for GetObject and the bucket itself for ListBucket');
    const sourceArn = JSON.stringify((allow[0].Condition as { StringEquals: Record<string, unknown> }).StringEquals['AWS:SourceArn']);
    assert.ok(sourceArn.includes(JSON.stringify(distributionId)), 'scoped to this distribution');
  });

  test('AWS::CloudFront::Function: infra/functions/spa-router.js, cloudfront-js-2.0, published', () => {
    const [, fn] = only(json, 'AWS::CloudFront::Function');
    const p = fn.Properties ?? {};
    assert.equal(p.AutoPublish, true);
    assert.deepEqual(p.FunctionConfig, { Comment: 'SPA routing: extension-less paths -> /index.html; _deckhand/ -> 404', Runtime: 'cloudfront-js-2.0' });
    assert.match(p.FunctionCode as string, /function handler\(event\)/);
    assert.ok((p.FunctionCode as string).length < 10 * 1024, 'CloudFront Functions are limited to 10 KB');
  });

  test('AWS::CloudFront::OriginAccessControl: S3, sigv4, always sign', () => {
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' }),
    });
  });

  test('AWS::CloudFront::Distribution: S3 via OAC + SPA router on the default behaviour, /api/* to the ALB (VPC origin) with the secret header', () => {
    const [, dist] = only(json, 'AWS::CloudFront::Distribution');
    const cfg = dist.Properties?.DistributionConfig as Record<string, any>;
    const origins = cfg.Origins as Record<string, any>[];
    const s3Origin = origins.find((o) => o.S3OriginConfig);
    const albOrigin = origins.find((o) => o.VpcOriginConfig);
    assert.ok(s3Origin && albOrigin);
    assert.deepEqual(s3Origin.OriginAccessControlId, getAtt('AWS::CloudFront::OriginAccessControl', 'Id'));
    assert.deepEqual(s3Origin.S3OriginConfig, { OriginAccessIdentity: '' });
    assert.deepEqual(albOrigin.DomainName, getAtt('AWS::ElasticLoadBalancingV2::LoadBalancer', 'DNSName'));
    assert.deepEqual(albOrigin.OriginCustomHeaders, [{ HeaderName: 'X-Origin-Verify', HeaderValue: { Ref: 'OriginVerifySecret' } }]);

    const def = cfg.DefaultCacheBehavior;
    assert.equal(def.TargetOriginId, s3Origin.Id);
    assert.equal(def.ViewerProtocolPolicy, 'redirect-to-https');
    assert.equal(def.Compress, true);
    assert.equal(def.CachePolicyId, '658327ea-f89d-4fab-a63d-7e88639e58f6', 'Managed-CachingOptimized');
    assert.deepEqual(def.FunctionAssociations, [{ EventType: 'viewer-request', FunctionARN: getAtt('AWS::CloudFront::Function', 'FunctionARN') }]);

    assert.equal(cfg.CacheBehaviors.length, 1);
    const api = cfg.CacheBehaviors[0];
    assert.equal(api.PathPattern, '/api/*');
    assert.equal(api.TargetOriginId, albOrigin.Id);
    assert.equal(api.CachePolicyId, '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', 'Managed-CachingDisabled');
    assert.equal(api.OriginRequestPolicyId, 'b689b0a8-53d0-40ab-baf2-68738e2966ac', 'Managed-AllViewerExceptHostHeader');
    assert.deepEqual(api.AllowedMethods, ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE']);
    assert.equal(api.FunctionAssociations, undefined, 'the SPA router never runs on /api/*');
    assert.equal(cfg.CustomErrorResponses, undefined);
    assert.equal(cfg.DefaultRootObject, 'index.html');
  });
});

describe('SSM', () => {
  test('SSM SecureString parameters: imported by name (no AWS::SSM::Parameter), referenced by ARN in the task definition', () => {
    template.resourceCountIs('AWS::SSM::Parameter', 0);
    const [, td] = only(json, 'AWS::ECS::TaskDefinition');
    const secrets = (td.Properties?.ContainerDefinitions as { Secrets: { Name: string; ValueFrom: unknown }[] }[])[0].Secrets;
    assert.deepEqual(
      secrets.map((s) => [s.Name, JSON.stringify(s.ValueFrom)]),
      [
        ['CLAUDE_API_KEY', JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:us-east-1:123456789012:parameter/spa-ecs/claude-api-key']] })],
        ['API_ACCESS_TOKEN', JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:us-east-1:123456789012:parameter/spa-ecs/api-access-token']] })],
      ],
    );
  });
});

describe('GitHub OIDC + roles', () => {
  test('AWS::IAM::OIDCProvider: GitHub Actions issuer, audience sts.amazonaws.com (created when no ARN is given)', () => {
    template.hasResourceProperties('AWS::IAM::OIDCProvider', {
      Url: 'https://token.actions.githubusercontent.com',
      ClientIdList: ['sts.amazonaws.com'],
    });
  });

  test('AWS::IAM::Role (deploy): assumable through the OIDC provider by the customised subjects of deploy.yml and rollback.yml', () => {
    const roleId = roleIdFor(json, stack, 'DeployRole');
    const [statement, ...rest] = (json.Resources[roleId].Properties?.AssumeRolePolicyDocument as { Statement: Record<string, any>[] }).Statement;
    assert.deepEqual(rest, []);
    assert.equal(statement.Action, 'sts:AssumeRoleWithWebIdentity');
    assert.deepEqual(statement.Principal, { Federated: ref('AWS::IAM::OIDCProvider') });
    assert.deepEqual(Object.keys(statement.Condition), ['StringEquals'], 'exact subjects: no wildcard');
    assert.equal(statement.Condition.StringEquals['token.actions.githubusercontent.com:aud'], 'sts.amazonaws.com');
    const subs = statement.Condition.StringEquals['token.actions.githubusercontent.com:sub'] as unknown[];
    assert.equal(subs.length, 2);
    subs.forEach((sub, i) => {
      const text = JSON.stringify(sub);
      for (const part of ['"repo:",{"Ref":"GitHubRepository"}', '":environment:",{"Ref":"GitHubDeployEnvironment"}',
        '":ref:refs/heads/",{"Ref":"GitHubDefaultBranch"}', `"/.github/workflows/${['deploy.yml', 'rollback.yml'][i]}@refs/heads/",{"Ref":"GitHubDefaultBranch"}`]) {
        assert.ok(text.includes(part), `${part} in ${text}`);
      }
    });
    assert.equal(json.Parameters?.GitHubDeployEnvironment?.Default, 'production');
    assert.equal(json.Parameters?.GitHubDefaultBranch?.Default, 'main');
    assert.equal(json.Parameters?.GitHubRepository?.Default, undefined, 'no default repository');
  });

  test('AWS::IAM::Role (plan): assumable by preview.yml\'s pull requests of the repository, read-only actions', () => {
    const roleId = roleIdFor(json, stack, 'PlanRole');
    const trust = JSON.stringify(json.Resources[roleId].Properties?.AssumeRolePolicyDocument);
    assert.ok(trust.includes('"StringLike":{"token.actions.githubusercontent.com:sub":{"Fn::Join":["",["repo:",{"Ref":"GitHubRepository"},":pull_request:ref:refs/pull/*/merge:job_workflow_ref:"'), trust);
    assert.ok(trust.includes('"/.github/workflows/preview.yml@refs/pull/*/merge"'), trust);
    const all = roleStatements(json, roleId).flatMap(actions);
    // Reads by their IAM names: Describe*, Get*, List*, BatchGet* (ecr:BatchGetImage pulls a manifest).
    const writes = all.filter((a) => !/^[a-z0-9]+:(Describe|Get|List|BatchGet)/.test(a));
    assert.deepEqual(writes, [], 'plan role is read-only');
    // SSM: metadata only (DescribeParameters); never GetParameter(s), which could decrypt values.
    assert.deepEqual(all.filter((a) => a.startsWith('ssm:')), ['ssm:DescribeParameters'], 'plan role cannot read secrets');
  });

  test('an existing OIDC provider ARN is used instead of creating one', async () => {
    const { synth } = await import('./helpers');
    const arn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const other = synth({ githubOidcProviderArn: arn });
    other.template.resourceCountIs('AWS::IAM::OIDCProvider', 0);
    assert.match(JSON.stringify(other.json.Resources), new RegExp(`"Federated":"${arn}"`));
  });
});

describe('outputs', () => {
  test('Outputs: the stable names deckhand `stack:` discovery reads', () => {
    assert.deepEqual(Object.keys(json.Outputs ?? {}).sort(), [
      'BucketName',
      'ClusterName',
      'DeployRoleArn',
      'DistributionDomainName',
      'DistributionId',
      'PlanRoleArn',
      'RepositoryName',
      'RepositoryUri',
      'ServiceName',
      'SiteUrl',
      'TaskFamily',
    ]);
    const o = json.Outputs ?? {};
    assert.deepEqual(o.ClusterName.Value, ref('AWS::ECS::Cluster'));
    assert.deepEqual(o.ServiceName.Value, getAtt('AWS::ECS::Service', 'Name'));
    assert.equal(o.TaskFamily.Value, 'spa-ecs-api');
    assert.deepEqual(o.RepositoryName.Value, ref('AWS::ECR::Repository'));
    assert.deepEqual(o.BucketName.Value, ref('AWS::S3::Bucket'));
    assert.deepEqual(o.DistributionId.Value, ref('AWS::CloudFront::Distribution'));
    assert.deepEqual(o.DistributionDomainName.Value, getAtt('AWS::CloudFront::Distribution', 'DomainName'));
    assert.deepEqual(o.SiteUrl.Value, { 'Fn::Join': ['', ['https://', getAtt('AWS::CloudFront::Distribution', 'DomainName')]] });
    assert.deepEqual(o.DeployRoleArn.Value, { 'Fn::GetAtt': [roleIdFor(json, stack, 'DeployRole'), 'Arn'] });
    assert.deepEqual(o.PlanRoleArn.Value, { 'Fn::GetAtt': [roleIdFor(json, stack, 'PlanRole'), 'Arn'] });
    assert.match(JSON.stringify(o.RepositoryUri.Value), /dkr\.ecr/);
  });
});
