import * as fs from 'node:fs';
import {
  Aws,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  DefaultStackSynthesizer,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  type StackProps,
  Tags,
} from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { checkWorkflowFiles, loadSubjectTemplate, repositoryNames, subject } from './github-oidc';
import { acknowledgeNagFindings } from './nag';
import { resourceNames, type ResourceNames } from './names';
import { resolveStrategy, type Strategy, type StrategyOptions } from './strategy';
import { applyTemplateCheckMetadata, TRAFFIC_SHIFTING_CFN_LINT_IGNORES } from './template-checks';

/** The container deckhand replaces the image of, and the port it listens on. */
export const API_CONTAINER_NAME = 'api';
export const API_CONTAINER_PORT = 3000;
export const API_HEALTH_CHECK_PATH = '/api/health';
/** The header CloudFront adds to `/api/*` requests; the ALB forwards only when it matches. */
export const ORIGIN_VERIFY_HEADER = 'X-Origin-Verify';
/** Prefix of deckhand's release state in the site bucket: never served. */
export const STATE_PREFIX = '_deckhand';
/** The managed prefix list of CloudFront's origin-facing addresses, in us-east-1. */
export const CLOUDFRONT_ORIGIN_FACING_PREFIX_LIST_US_EAST_1 = 'pl-3b927c52';
/** The GitHub Actions OIDC issuer. */
export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';

export interface SpaEcsStackProps extends StackProps {
  /** Application name; `spa-ecs` by default. Lowercase letters, digits and dashes. */
  readonly appName: string;
  /** Environment name (`prod` by default). Every name is `<app>` in prod, `<app>-<env>` elsewhere. */
  readonly environment: string;
  /** Explicit account and region: synth does no lookups. */
  readonly account: string;
  readonly region: string;
  /** Explicit availability zones (two); default `<region>a`, `<region>b`. */
  readonly availabilityZones?: string[];
  /** Path of the CloudFront Function source (viewer-request SPA router). */
  readonly spaRouterPath: string;
  /**
   * ARN of an existing GitHub OIDC provider in the account. When absent, the stack creates one
   * (an account can hold only one provider per issuer URL).
   */
  readonly githubOidcProviderArn?: string;
  /** EC2 instance type of the ECS capacity. */
  readonly instanceType?: string;
  /** Soft memory limit of the api container (MiB, default 256). */
  readonly apiMemoryReservationMiB?: number;
  /** Auto Scaling Group bounds. */
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
  /** How many images the ECR lifecycle rule keeps. */
  readonly keepImages?: number;
  /** Retention of the tasks' log group. */
  readonly logRetention?: logs.RetentionDays;
  /** Record the cdk-nag acknowledgements of lib/nag.ts (default true; tests turn it off to see the raw findings). */
  readonly acknowledgeNag?: boolean;
  /**
   * Workflow files (under .github/workflows/) whose jobs in the deploy environment, on the default
   * branch, may assume DeployRole: default `deploy.yml`, `rollback.yml`.
   */
  readonly deployWorkflows?: string[];
  /** Workflow files whose pull_request jobs may assume PlanRole: default `preview.yml`. */
  readonly planWorkflows?: string[];
  /** The repository's OIDC subject template (default infra/github-oidc-sub.json). */
  readonly subjectTemplatePath?: string;
  /**
   * The service's deployment strategy (lib/strategy.ts): ROLLING by default; BLUE_GREEN, LINEAR or
   * CANARY add an alternate target group, a test-traffic rule, the infrastructure role ECS shifts
   * traffic with, and the 5xx-rate and latency alarms that roll a deployment back.
   */
  readonly deploymentStrategy?: StrategyOptions;
  /**
   * The environment (of the same app, account and region) this one promotes from (`deckhand
   * promote`, deckhand.yml `promote-from`; context `promoteFrom`): DeployRole may read, and only
   * read, what a promotion needs of that environment's stack (promoteSourceStatements).
   */
  readonly promoteFrom?: string;
  /**
   * The account of the environment this one promotes from (context `promoteFromAccount`; default
   * this stack's own account). In another account, DeployRole's promotion statements name that
   * account's bucket and repository ARNs, and there is no `cloudformation:DescribeStacks` of the
   * source stack: CloudFormation has no resource-based policies, so no grant can make another
   * account's stack readable ("AWS services that work with IAM", IAM User Guide: CloudFormation
   * "Resource-based policies: No"). deckhand.yml then names the source's bucket and repository
   * (docs/iam.md "Environments in separate accounts").
   */
  readonly promoteFromAccount?: string;
  /**
   * The DeployRole ARN of the environment that promotes from this one when it is in another
   * account (context `promoteToRoleArn`; its stack's `DeployRoleArn` output): this stack's site
   * bucket policy and ECR repository policy let exactly that role read, and only read, what a
   * promotion needs (promoteTargetStatements). Deploy the promoting stack first: S3 and ECR refuse a
   * policy naming a role that does not exist.
   */
  readonly promoteToRoleArn?: string;
}

/** The header (with the origin secret as its value) that sends a request to the test traffic rule. */
export const TEST_TRAFFIC_HEADER = 'X-Deckhand-Test-Traffic';
/** Alarm thresholds of a traffic-shifting deployment: 5xx share of requests (%), p99 latency (s). */
export const ALARM_5XX_PERCENT = 5;
export const ALARM_P99_LATENCY_SECONDS = 2;

export const DEFAULT_DEPLOY_WORKFLOWS = ['deploy.yml', 'rollback.yml'];
export const DEFAULT_PLAN_WORKFLOWS = ['preview.yml'];

/**
 * The base infrastructure deckhand deploys into: network, ALB, ECS on EC2 with an Auto Scaling
 * capacity provider, ECR, S3 + CloudFront (OAC + SPA router function), IAM roles for GitHub OIDC.
 * deckhand never creates any of this; it reads the outputs (`stack:` in deckhand.yml).
 */
export class SpaEcsStack extends Stack {
  public readonly names: ResourceNames;
  public readonly strategy: Strategy;
  /** The stack and site bucket of the environment this one promotes from (promoteFrom), if any. */
  public readonly promoteSource?: { readonly stack: string; readonly bucket: string; readonly crossAccount: boolean };
  private readonly azs: string[];

  constructor(scope: Construct, id: string, props: SpaEcsStackProps) {
    super(scope, id, {
      ...props,
      env: { account: props.account, region: props.region },
      // DefaultStackSynthesizer (lib/app.ts picks CliCredentialsStackSynthesizer with
      // `-c synthesizer=cli-credentials`): the synth is offline either way. `cdk deploy` of a stack
      // it synthesizes needs the CDK bootstrap stack even though this template has no file or image
      // asset: the synthesizer always adds the template itself as a file asset in the bootstrap's
      // bucket (deployed by TemplateURL), names the bootstrap's deploy role (the CLI assumes it, and
      // only falls back to its own credentials, with a warning, when it cannot) and cfn-exec role
      // (CloudFormation's service role), and requires bootstrap version 6, which the CLI reads from
      // the SSM parameter /cdk-bootstrap/<qualifier>/version before deploying (aws-cdk-lib
      // core/lib/stack-synthesizers/default-synthesizer.ts `synthesize`; the aws-cdk CLI's
      // `Deployments.deployStack` and `SdkProvider.forEnvironment`). `generateBootstrapVersionRule:
      // false` only leaves the CheckBootstrapVersion rule out of the template, so the template
      // itself deploys with plain CloudFormation (scripts/deploy-local).
      synthesizer: props.synthesizer ?? new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
      description: `deckhand base infrastructure for ${props.appName} (${props.environment})`,
    });
    this.azs = props.availabilityZones ?? [`${props.region}a`, `${props.region}b`];
    if (this.azs.length < 2) {
      throw new Error(`availabilityZones: need at least two, got ${JSON.stringify(this.azs)}`);
    }
    const names = resourceNames(props.appName, props.environment);
    this.names = names;
    const strategy = resolveStrategy(props.deploymentStrategy ?? {});
    this.strategy = strategy;
    Tags.of(this).add('App', props.appName);
    Tags.of(this).add('Environment', props.environment);
    Tags.of(this).add('ManagedBy', 'deckhand-infra');

    // ---------------------------------------------------------------- parameters
    const originVerifySecret = new CfnParameter(this, 'OriginVerifySecret', {
      type: 'String',
      noEcho: true,
      minLength: 32,
      allowedPattern: '^[A-Za-z0-9_-]+$',
      description:
        `Shared secret CloudFront sends to the ALB in ${ORIGIN_VERIFY_HEADER}; the ALB forwards only on a match. ` +
        'At least 32 URL-safe characters (e.g. `openssl rand -hex 32`). Rotate by redeploying with a new value.',
    });
    const prefixListId = new CfnParameter(this, 'CloudFrontPrefixListId', {
      type: 'String',
      default: CLOUDFRONT_ORIGIN_FACING_PREFIX_LIST_US_EAST_1,
      allowedPattern: '^pl-[0-9a-f]+$',
      description:
        'ID of the managed prefix list com.amazonaws.global.cloudfront.origin-facing in this region ' +
        '(aws ec2 describe-managed-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.global.cloudfront.origin-facing).',
    });
    // CloudFront-VPCOrigins-Service-SG: AWS creates it in the VPC with the first VPC origin, so it
    // cannot be named before the first deploy; once it exists, a second, reviewed deploy names it
    // here and the ALB admits that group instead of every CloudFront origin-facing address.
    const vpcOriginsServiceGroup = new CfnParameter(this, 'CloudFrontVpcOriginsSecurityGroupId', {
      type: 'String',
      default: '',
      allowedPattern: '^(sg-[0-9a-f]{8,17})?$',
      description:
        'Empty on the first deploy (the ALB admits the CloudFront origin-facing prefix list). Then the id of the ' +
        'security group CloudFront-VPCOrigins-Service-SG, which AWS creates in this VPC with the VPC origin ' +
        "(aws ec2 describe-security-groups --filters Name=vpc-id,Values=<VpcId> Name=group-name,Values=CloudFront-VPCOrigins-Service-SG): " +
        'the ALB then admits only that group, the interfaces through which CloudFront reaches this VPC origin.',
    });
    const admitServiceGroup = new CfnCondition(this, 'AdmitVpcOriginsServiceGroup', {
      expression: Fn.conditionNot(Fn.conditionEquals(vpcOriginsServiceGroup.valueAsString, '')),
    });
    // The repository as GitHub writes it in the subject: `owner/name`, or `owner@OWNER_ID/name@REPO_ID`
    // for a repository under immutable subject claims (created, renamed or transferred after 15 July
    // 2026, or opted in: GitHub's OpenID Connect reference, "Immutable subject claims"). GitHub names
    // (owners: letters, digits, `-`; repositories: also `_` and `.`) never contain `@`.
    const githubRepository = new CfnParameter(this, 'GitHubRepository', {
      type: 'String',
      allowedPattern: '^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+|[A-Za-z0-9_.-]+@[0-9]+/[A-Za-z0-9_.-]+@[0-9]+)$',
      constraintDescription:
        'owner/name, or owner@OWNER_ID/name@REPO_ID for a repository with immutable OIDC subject claims (as the sub claim writes it)',
      description:
        'The GitHub repository whose workflows may assume the deploy and plan roles, exactly as its OIDC subject names it: ' +
        'owner/name, or owner@OWNER_ID/name@REPO_ID once GitHub gives it immutable subject claims (a repository created, ' +
        'renamed or transferred after 15 July 2026). After a rename or transfer, update it: the old name is no longer trusted.',
    });
    const deployEnvironment = new CfnParameter(this, 'GitHubDeployEnvironment', {
      type: 'String',
      default: 'production',
      allowedPattern: '^[A-Za-z0-9_.-]+$',
      description:
        'The GitHub environment of the deploy and rollback jobs (`environment:` in their workflows). DeployRole trusts only ' +
        'jobs in this environment on GitHubDefaultBranch; also restrict the environment to that branch in GitHub.',
    });
    const defaultBranch = new CfnParameter(this, 'GitHubDefaultBranch', {
      type: 'String',
      default: 'main',
      allowedPattern: '^[A-Za-z0-9_./-]+$',
      description:
        'The branch whose deploy and rollback workflows may assume DeployRole (the `ref` of the customised OIDC subject, ' +
        'infra/github-oidc-sub.json): a workflow dispatched from any other branch is refused, whatever it says.',
    });
    const desiredCount = new CfnParameter(this, 'ApiDesiredCount', {
      type: 'Number',
      default: 1,
      minValue: 0,
      maxValue: 20,
      description:
        'Desired task count of the api service. Use 0 for the very first deploy, before deckhand has pushed an image.',
    });

    // ---------------------------------------------------------------- network
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.40.0.0/16'),
      availabilityZones: this.azs.slice(0, 2),
      natGateways: 0,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        // The ALB's own subnets: no route beyond the VPC (no internet gateway route, no NAT). Only
        // CloudFront reaches it, through its VPC origin (see the Distribution below).
        { name: 'origin', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      // Both of these would add a Lambda-backed custom resource.
      restrictDefaultSecurityGroup: false,
      // The instances' public subnets use it; a CloudFront VPC origin also requires the VPC to have
      // one attached, though its traffic never crosses it ("Restrict access with VPC origins",
      // CloudFront developer guide, prerequisites).
      createInternetGateway: true,
    });
    const flowLogGroup = new logs.LogGroup(this, 'VpcFlowLogs', {
      logGroupName: `/vpc/${names.base}/flow-logs`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });

    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc,
      description: `${names.base} ALB: HTTP from CloudFront origin-facing addresses only`,
      allowAllOutbound: false,
    });
    // The ALB is internal: only CloudFront's VPC origin reaches it. One ingress rule, whose source is
    // one of the two AWS documents for VPC-origin traffic (CloudFront developer guide, "Restrict
    // access with VPC origins"; aws-cdk-lib aws-cloudfront-origins README, "Restrict traffic coming
    // to the VPC origin": "The CloudFront managed prefix list" and "The VPC origin service security
    // group"):
    // - CloudFrontVpcOriginsSecurityGroupId empty (the first deploy): the managed prefix list
    //   com.amazonaws.global.cloudfront.origin-facing (it weighs ~55 rules against the 60-rule
    //   quota: add no other ingress rule to this group);
    // - set: only CloudFront-VPCOrigins-Service-SG, the group AWS puts on the interfaces CloudFront
    //   creates in this VPC for the VPC origin; narrower (no other distribution's address), but it
    //   exists only once the VPC origin does, hence a parameter for a second deploy.
    // Not the VPC's or the isolated subnets' CIDRs: that would admit every instance in the VPC, and
    // deployments that admitted the VPC CIDR instead of one of the two got CloudFront 504s with no
    // request reaching the ALB.
    albSecurityGroup.addIngressRule(
      ec2.Peer.prefixList(prefixListId.valueAsString),
      ec2.Port.tcp(80),
      'CloudFront VPC origin (CloudFront-VPCOrigins-Service-SG, else the origin-facing prefix list)',
    );
    const [cloudFrontIngress] = albSecurityGroup.node.children.filter(
      (c): c is ec2.CfnSecurityGroupIngress => c instanceof ec2.CfnSecurityGroupIngress,
    );
    cloudFrontIngress.addPropertyOverride(
      'SourcePrefixListId',
      Fn.conditionIf(admitServiceGroup.logicalId, Aws.NO_VALUE, prefixListId.valueAsString),
    );
    cloudFrontIngress.addPropertyOverride(
      'SourceSecurityGroupId',
      Fn.conditionIf(admitServiceGroup.logicalId, vpcOriginsServiceGroup.valueAsString, Aws.NO_VALUE),
    );
    const instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc,
      description: `${names.base} ECS instances: dynamic host ports from the ALB only`,
      // The ECS agent and image pulls reach ECS, ECR and CloudWatch Logs over the internet gateway.
      allowAllOutbound: true,
    });
    // Bridge networking with hostPort 0: tasks get a port from the ephemeral range; only the ALB
    // reaches it.
    const dynamicPorts = ec2.Port.tcpRange(32768, 65535);
    instanceSecurityGroup.addIngressRule(albSecurityGroup, dynamicPorts, 'ALB to container dynamic host ports');
    // Inline egress (a CIDR, not a group reference): it replaces the default allow-all egress rule.
    albSecurityGroup.addEgressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), dynamicPorts, 'ALB to container dynamic host ports');

    // ---------------------------------------------------------------- logs
    const logGroup = new logs.LogGroup(this, 'ApiLogGroup', {
      logGroupName: `/ecs/${names.base}/${API_CONTAINER_NAME}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---------------------------------------------------------------- ECR
    const repository = new ecr.Repository(this, 'Repository', {
      repositoryName: names.repository,
      imageScanOnPush: true,
      // deckhand tags images `src-<hash of the build context>` and skips build + push when the tag
      // exists, so a tag is never rewritten: IMMUTABLE costs nothing and stops anyone from moving it.
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      lifecycleRules: [
        {
          description: `keep the last ${props.keepImages ?? 30} images`,
          maxImageCount: props.keepImages ?? 30,
          tagStatus: ecr.TagStatus.ANY,
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---------------------------------------------------------------- ECS cluster on EC2
    const cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: names.cluster,
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    const instanceRole = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: `${names.base} ECS container instances`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2ContainerServiceforEC2Role')],
    });
    const userData = ec2.UserData.forLinux();
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      launchTemplateName: `${names.base}-ecs`,
      // ECS-optimized Amazon Linux 2023, resolved by CloudFormation from its public SSM parameter.
      machineImage: ecs.EcsOptimizedImage.amazonLinux2023(),
      instanceType: new ec2.InstanceType(props.instanceType ?? 't3.small'),
      requireImdsv2: true,
      httpPutResponseHopLimit: 2,
      role: instanceRole,
      securityGroup: instanceSecurityGroup,
      // Public subnets, no NAT: instances need a public address to reach ECS/ECR. No key pair: no SSH.
      associatePublicIpAddress: true,
      userData,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(30, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });
    const autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'AutoScalingGroup', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate,
      minCapacity: props.minCapacity ?? 1,
      maxCapacity: props.maxCapacity ?? 4,
    });
    const capacityProvider = new ecs.AsgCapacityProvider(this, 'CapacityProvider', {
      capacityProviderName: `${names.base}-asg`,
      autoScalingGroup,
      enableManagedScaling: true,
      targetCapacityPercent: 100,
      // Managed draining stays on (the default): turning it off adds a Lambda-backed custom resource.
      enableManagedTerminationProtection: true,
    });
    cluster.addAsgCapacityProvider(capacityProvider);

    // ---------------------------------------------------------------- task definition
    const claudeApiKey = new SsmSecureStringSecret(this, names.claudeApiKeyParameter);
    const apiAccessToken = new SsmSecureStringSecret(this, names.apiAccessTokenParameter);
    const executionRole = new iam.Role(this, 'TaskExecutionRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `${names.base} ECS task execution (image pull, logs, SSM secrets)`,
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonECSTaskExecutionRolePolicy')],
    });
    const taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `${names.base} api task (application permissions)`,
    });
    const taskDefinition = new ecs.Ec2TaskDefinition(this, 'TaskDefinition', {
      family: names.taskFamily,
      networkMode: ecs.NetworkMode.BRIDGE,
      executionRole,
      taskRole,
    });
    taskDefinition.addContainer(API_CONTAINER_NAME, {
      containerName: API_CONTAINER_NAME,
      // Bootstrap image reference: deckhand registers every later revision with its own
      // `src-<hash>` image digest. See README "First deploy".
      image: ecs.ContainerImage.fromRegistry(`${repository.repositoryUri}:bootstrap`),
      memoryReservationMiB: props.apiMemoryReservationMiB ?? 256,
      essential: true,
      portMappings: [{ containerPort: API_CONTAINER_PORT, hostPort: 0, protocol: ecs.Protocol.TCP }],
      environment: { NODE_ENV: 'production', PORT: String(API_CONTAINER_PORT) },
      secrets: {
        CLAUDE_API_KEY: claudeApiKey,
        API_ACCESS_TOKEN: apiAccessToken,
      },
      // Plain awslogs options: AmazonECSTaskExecutionRolePolicy already allows the log writes, so no
      // extra grant is added to the execution role (LogDrivers.awsLogs would add one).
      logging: new ecs.GenericLogDriver({
        logDriver: 'awslogs',
        options: {
          'awslogs-group': logGroup.logGroupName,
          'awslogs-region': props.region,
          'awslogs-stream-prefix': API_CONTAINER_NAME,
        },
      }),
    });

    // ---------------------------------------------------------------- ALB
    // Internal, in the isolated subnets: no address on the internet. CloudFront reaches it through
    // a VPC origin ("Restrict access to Application Load Balancers" and "Restrict access with VPC
    // origins", CloudFront developer guide), so a request never crosses the internet between the
    // edge and the ALB.
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: false,
      securityGroup: albSecurityGroup,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      dropInvalidHeaderFields: true,
    });
    const listener = alb.addListener('HttpListener', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      // `open: false`: no 0.0.0.0/0 rule; the prefix-list rule above is the only ingress.
      open: false,
      defaultAction: elbv2.ListenerAction.fixedResponse(403, { contentType: 'text/plain', messageBody: 'Forbidden' }),
    });

    // ---------------------------------------------------------------- service
    // ROLLING (the default) keeps the one target group behind a forward rule. The traffic-shifting
    // strategies (lib/strategy.ts) need what "Application Load Balancer resources for blue/green,
    // linear, and canary deployments" (ECS developer guide) lists: a second (alternate) target group,
    // a production listener rule forwarding to both with weights ECS sets as it shifts traffic, an
    // optional test-traffic rule, and a role ECS assumes to change them (the infrastructure role for
    // load balancers); plus, here, alarms that roll a deployment back while ECS watches it.
    const shifting = strategy.name !== 'ROLLING';
    const healthCheck: elbv2.HealthCheck = {
      path: API_HEALTH_CHECK_PATH,
      healthyHttpCodes: '200',
      interval: Duration.seconds(15),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    };
    const deregistrationDelay = Duration.seconds(30);
    const originVerified = elbv2.ListenerCondition.httpHeader(ORIGIN_VERIFY_HEADER, [originVerifySecret.valueAsString]);
    // Same ids as listener.addTargets('Api') gives them, so a switch from ROLLING keeps the target
    // group the service already uses.
    const targetGroup = (id: string): elbv2.ApplicationTargetGroup =>
      new elbv2.ApplicationTargetGroup(listener, id, {
        vpc,
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        // bridge networking: ECS registers the instance and the task's host port
        targetType: elbv2.TargetType.INSTANCE,
        healthCheck,
        deregistrationDelay,
      });
    const primaryGroup = shifting ? targetGroup('ApiGroup') : undefined;
    const alternateGroup = shifting ? targetGroup('ApiAlternateGroup') : undefined;
    const alarms: cloudwatch.Alarm[] = [];
    let alternateTarget: ecs.IAlternateTarget | undefined;
    if (primaryGroup && alternateGroup) {
      const bothGroups = elbv2.ListenerAction.weightedForward([
        { targetGroup: primaryGroup, weight: 100 },
        { targetGroup: alternateGroup, weight: 0 },
      ]);
      // ECS rewrites these weights during a deployment and leaves the new revision's group at 100
      // after it. CloudFormation writes them back only when this rule's own template changes (e.g.
      // a new OriginVerifySecret): infra/README.md, "Deployment strategies", says what to check then.
      const productionRule = new elbv2.ApplicationListenerRule(listener, 'ApiRule', {
        listener,
        priority: 10,
        conditions: [originVerified],
        action: bothGroups,
      });
      // Test traffic (ECS points it at the new revision before production traffic moves): requests
      // that carry the origin secret in X-Deckhand-Test-Traffic too, which only a holder of the
      // secret can send (CloudFront forwards viewer headers; X-Origin-Verify it sets itself).
      const testRule = new elbv2.ApplicationListenerRule(listener, 'ApiTestTrafficRule', {
        listener,
        priority: 5,
        conditions: [originVerified, elbv2.ListenerCondition.httpHeader(TEST_TRAFFIC_HEADER, [originVerifySecret.valueAsString])],
        action: bothGroups,
      });
      // The Amazon ECS infrastructure IAM role for load balancers (ECS developer guide): trusted by
      // ecs.amazonaws.com, with AWS's policy for it, which AWS keeps in step with the calls ECS makes
      // (DescribeListeners/Rules/TargetGroups/TargetHealth, Register/DeregisterTargets, ModifyListener,
      // ModifyRule; version 6 of Feb 2026).
      const infrastructureRole = new iam.Role(this, 'EcsInfrastructureRole', {
        assumedBy: new iam.ServicePrincipal('ecs.amazonaws.com'),
        description: `${names.base} ECS shifts traffic between the api target groups (${strategy.name} deployments)`,
        managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonECSInfrastructureRolePolicyForLoadBalancers')],
      });
      alternateTarget = new ecs.AlternateTarget('ApiAlternate', {
        alternateTargetGroup: alternateGroup,
        productionListener: ecs.ListenerRuleConfiguration.applicationListenerRule(productionRule),
        testListener: ecs.ListenerRuleConfiguration.applicationListenerRule(testRule),
        role: infrastructureRole,
      });
      alarms.push(...deploymentAlarms(this, names.base, alb, [primaryGroup, alternateGroup]));
    }
    const service = new ecs.Ec2Service(this, 'Service', {
      serviceName: names.service,
      cluster,
      taskDefinition,
      // The template's TaskDefinition property is the family name, not this stack's revision ARN,
      // which ECS reads as the family's latest ACTIVE revision (AWS::ECS::Service TaskDefinition,
      // CloudFormation user guide): a later `cdk deploy` that updates the service does not take it
      // back to this stack's revision from the newer one deckhand registered. It does move it to
      // the latest revision when deckhand rolled back to an older one (or ECS rolled back a failed
      // rollout): docs/getting-started.md says so and how to scale without it.
      taskDefinitionRevision: ecs.TaskDefinitionRevision.LATEST,
      desiredCount: desiredCount.valueAsNumber,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      capacityProviderStrategies: [{ capacityProvider: capacityProvider.capacityProviderName, weight: 1, base: 0 }],
      placementStrategies: [ecs.PlacementStrategy.spreadAcross(ecs.BuiltInAttributes.AVAILABILITY_ZONE), ecs.PlacementStrategy.packedByMemory()],
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      healthCheckGracePeriod: Duration.seconds(60),
      ...(shifting
        ? {
            deploymentStrategy: ecs.DeploymentStrategy[strategy.name],
            bakeTime: Duration.minutes(strategy.bakeTimeMinutes ?? 0),
            ...(strategy.name === 'LINEAR'
              ? { linearConfiguration: { stepPercent: strategy.stepPercent, stepBakeTime: Duration.minutes(strategy.stepBakeTimeMinutes ?? 0) } }
              : {}),
            ...(strategy.name === 'CANARY'
              ? { canaryConfiguration: { stepPercent: strategy.stepPercent, stepBakeTime: Duration.minutes(strategy.stepBakeTimeMinutes ?? 0) } }
              : {}),
            // ECS watches these from the new tasks' start to the end of the bake time and rolls back
            // when one is in ALARM ("Amazon ECS deployment alarms", DeploymentAlarms).
            deploymentAlarms: { alarmNames: alarms.map((a) => a.alarmName), behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM },
          }
        : {}),
    });
    if (primaryGroup) {
      primaryGroup.addTarget(service.loadBalancerTarget({ containerName: API_CONTAINER_NAME, containerPort: API_CONTAINER_PORT, alternateTarget }));
    } else {
      listener.addTargets('Api', {
        priority: 10,
        conditions: [originVerified],
        protocol: elbv2.ApplicationProtocol.HTTP,
        targets: [service.loadBalancerTarget({ containerName: API_CONTAINER_NAME, containerPort: API_CONTAINER_PORT })],
        healthCheck,
        deregistrationDelay,
      });
    }

    // ---------------------------------------------------------------- S3 site bucket
    const siteBucket = new s3.Bucket(this, 'SiteBucket', {
      bucketName: names.bucket(props.account, props.region),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      lifecycleRules: [
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---------------------------------------------------------------- CloudFront
    const spaRouterSource = fs.readFileSync(props.spaRouterPath, 'utf8');
    const spaRouter = new cloudfront.Function(this, 'SpaRouter', {
      functionName: `${names.base}-spa-router-${props.region}`,
      comment: 'SPA routing: extension-less paths -> /index.html; _deckhand/ -> 404',
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      code: cloudfront.FunctionCode.fromInline(spaRouterSource),
      autoPublish: true,
    });
    const siteOrigin = origins.S3BucketOrigin.withOriginAccessControl(siteBucket, {
      // READ + LIST: a missing key is a true 404 instead of S3's 403.
      originAccessLevels: [cloudfront.AccessLevel.READ, cloudfront.AccessLevel.LIST],
    });
    // A CloudFront VPC origin: CloudFront reaches the internal ALB through an interface it places in
    // the VPC, over AWS's network, never the internet; HTTP on port 80 stays inside it (the ALB has
    // no certificate for its *.elb.amazonaws.com name). The secret header stays as a second check
    // (the listener forwards only with it), e.g. against another client inside the VPC.
    const apiOrigin = origins.VpcOrigin.withApplicationLoadBalancer(alb, {
      vpcOriginName: `${names.base}-api-${props.region}`,
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTP_ONLY,
      httpPort: 80,
      customHeaders: { [ORIGIN_VERIFY_HEADER]: originVerifySecret.valueAsString },
      readTimeout: Duration.seconds(30),
    });
    const distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${names.base} site + /api/*`,
      defaultRootObject: 'index.html',
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableIpv6: true,
      defaultBehavior: {
        origin: siteOrigin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        compress: true,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        functionAssociations: [{ function: spaRouter, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      },
      additionalBehaviors: {
        '/api/*': {
          origin: apiOrigin,
          viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
          compress: true,
          allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
          cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
          originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        },
      },
      // Deliberately no errorResponses: a distribution-wide 403/404 -> /index.html would turn the
      // API's real errors into `200 text/html`. The SPA router handles deep links instead.
    });
    // deckhand's release state is never served, whatever the function does.
    siteBucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyCloudFrontDeckhandState',
        effect: iam.Effect.DENY,
        principals: [new iam.ServicePrincipal('cloudfront.amazonaws.com')],
        actions: ['s3:GetObject'],
        resources: [siteBucket.arnForObjects(`${STATE_PREFIX}/*`)],
      }),
    );

    // ---------------------------------------------------------------- GitHub OIDC + roles
    const oidcProviderArn =
      props.githubOidcProviderArn ??
      new iam.OidcProviderNative(this, 'GitHubOidcProvider', {
        url: `https://${GITHUB_OIDC_HOST}`,
        clientIds: ['sts.amazonaws.com'],
      }).oidcProviderArn;
    // Every role trusts exactly the customised subjects (lib/github-oidc.ts, infra/github-oidc-sub.json)
    // of the jobs that use it; the default subject is not trusted at all, since the customisation
    // applies to the whole repository (GitHub never sends the default form once it is set).
    const subjectKeys = loadSubjectTemplate(props.subjectTemplatePath);
    const deployWorkflows = props.deployWorkflows ?? DEFAULT_DEPLOY_WORKFLOWS;
    const planWorkflows = props.planWorkflows ?? DEFAULT_PLAN_WORKFLOWS;
    checkWorkflowFiles('deployWorkflows', deployWorkflows);
    checkWorkflowFiles('planWorkflows', planWorkflows);
    const repo = githubRepository.valueAsString;
    const workflowRef = (file: string, ref: string): string =>
      Fn.join('', [repositoryNames(repo), '/.github/workflows/', file, '@', ref]);
    // One entry per distinct subject (without job_workflow_ref in the template, every workflow's is the same).
    const dedupe = (subjects: string[]): string | string[] => {
      const unique = [...new Map(subjects.map((x) => [JSON.stringify(this.resolve(x)), x])).values()];
      return unique.length === 1 ? unique[0] : unique;
    };
    const githubPrincipal = (subjects: string[], operator: 'StringEquals' | 'StringLike'): iam.IPrincipal => {
      const aud = { [`${GITHUB_OIDC_HOST}:aud`]: 'sts.amazonaws.com' };
      const sub = { [`${GITHUB_OIDC_HOST}:sub`]: dedupe(subjects) };
      return new iam.WebIdentityPrincipal(
        oidcProviderArn,
        operator === 'StringEquals' ? { StringEquals: { ...aud, ...sub } } : { StringEquals: aud, StringLike: sub },
      );
    };
    // Deploy and rollback: the deploy environment, on the default branch, from the named workflow
    // files of that branch (a push to it, or a dispatch of it).
    const branchRef = Fn.join('', ['refs/heads/', defaultBranch.valueAsString]);
    const deploySubjects = deployWorkflows.map((file) =>
      subject(subjectKeys, {
        repo,
        context: Fn.join('', ['environment:', deployEnvironment.valueAsString]),
        ref: branchRef,
        jobWorkflowRef: workflowRef(file, branchRef),
      }),
    );
    // Plan: a pull_request job (no environment) of the plan workflow; its ref is the pull request's
    // merge ref, refs/pull/<number>/merge, hence StringLike (`*` stands for the number only: the
    // rest of the subject is fixed around it).
    const planSubjects = planWorkflows.map((file) =>
      subject(subjectKeys, {
        repo,
        context: 'pull_request',
        ref: 'refs/pull/*/merge',
        jobWorkflowRef: workflowRef(file, 'refs/pull/*/merge'),
      }),
    );

    const serviceArn = this.formatArn({ service: 'ecs', resource: 'service', resourceName: `${names.cluster}/${names.service}` });
    // The service's deployments (ECS names them service-deployment/<cluster>/<service>/<id>:
    // "Permissions required for viewing Amazon ECS service deployments", ECS developer guide).
    const serviceDeploymentsArn = this.formatArn({
      service: 'ecs',
      resource: 'service-deployment',
      resourceName: `${names.cluster}/${names.service}/*`,
    });
    const distributionArn = this.formatArn({ service: 'cloudfront', region: '', resource: 'distribution', resourceName: distribution.distributionId });
    const stackArn = this.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${this.stackName}/*` });

    const deployRole = new iam.Role(this, 'DeployRole', {
      assumedBy: githubPrincipal(deploySubjects, 'StringEquals'),
      description: `deckhand deploy/rollback for ${names.base} (GitHub Actions, the deploy environment)`,
      maxSessionDuration: Duration.hours(1),
    });
    for (const statement of deployRoleStatements({
      repositoryArn: repository.repositoryArn,
      serviceArn,
      serviceDeploymentsArn,
      clusterArn: cluster.clusterArn,
      passRoleArns: [executionRole.roleArn, taskRole.roleArn],
      taskDefinitionArn: this.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${names.taskFamily}:*` }),
      bucketArn: siteBucket.bucketArn,
      distributionArn,
      stackArn,
      secretParameterArns: [claudeApiKey.arn, apiAccessToken.arn],
      alarmArns: alarms.map((a) => a.alarmArn),
    })) {
      deployRole.addToPolicy(statement);
    }
    if (props.promoteFrom !== undefined) {
      const from = resourceNames(props.appName, props.promoteFrom);
      const sourceAccount = props.promoteFromAccount ?? props.account;
      if (!/^\d{12}$/.test(sourceAccount)) throw new Error(`promoteFromAccount ${JSON.stringify(sourceAccount)}: expected 12 digits`);
      const crossAccount = sourceAccount !== props.account;
      if (from.stack === names.stack && !crossAccount) {
        throw new Error(`promoteFrom ${JSON.stringify(props.promoteFrom)}: an environment cannot promote from itself`);
      }
      const sourceBucket = from.bucket(sourceAccount, props.region);
      this.promoteSource = { stack: from.stack, bucket: sourceBucket, crossAccount };
      for (const statement of promoteSourceStatements({
        bucketArn: `arn:${Aws.PARTITION}:s3:::${sourceBucket}`,
        repositoryArn: this.formatArn({ service: 'ecr', account: sourceAccount, resource: 'repository', resourceName: from.repository }),
        stackArn: crossAccount
          ? undefined
          : this.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${from.stack}/*` }),
      })) {
        deployRole.addToPolicy(statement);
      }
    } else if (props.promoteFromAccount !== undefined) {
      throw new Error('promoteFromAccount: only with promoteFrom (the environment promoted from)');
    }
    if (props.promoteToRoleArn !== undefined) {
      const target = /^arn:aws[a-z-]*:iam::(\d{12}):role\/[\w+=,.@/-]+$/.exec(props.promoteToRoleArn);
      if (!target) throw new Error(`promoteToRoleArn ${JSON.stringify(props.promoteToRoleArn)}: expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`);
      if (target[1] === props.account) {
        throw new Error(
          `promoteToRoleArn ${props.promoteToRoleArn}: a role of this stack's own account needs no resource policy ` +
            "(the promoting stack's promoteFrom grants it in its identity policy); set it only for another account's role",
        );
      }
      const statements = promoteTargetStatements({
        principalArn: props.promoteToRoleArn,
        bucketArn: siteBucket.bucketArn,
        objectsArn: siteBucket.arnForObjects('*'),
      });
      for (const statement of statements.bucket) siteBucket.addToResourcePolicy(statement);
      repository.addToResourcePolicy(statements.repository);
    }

    const planRole = new iam.Role(this, 'PlanRole', {
      assumedBy: githubPrincipal(planSubjects, 'StringLike'),
      description: `deckhand plan (read-only) for ${names.base} (GitHub Actions, pull requests)`,
      maxSessionDuration: Duration.hours(1),
    });
    for (const statement of planRoleStatements({
      repositoryArn: repository.repositoryArn,
      serviceArn,
      serviceDeploymentsArn,
      bucketArn: siteBucket.bucketArn,
      distributionArn,
      stackArn,
    })) {
      planRole.addToPolicy(statement);
    }

    // ---------------------------------------------------------------- outputs (read by `stack:`)
    const output = (id: string, value: string, description: string): void => {
      new CfnOutput(this, id, { value, description });
    };
    output('ClusterName', cluster.clusterName, 'ECS cluster (backend.cluster)');
    output('ServiceName', service.serviceName, 'ECS service (backend.service)');
    output('TaskFamily', taskDefinition.family, 'Task definition family of the service');
    output('RepositoryName', repository.repositoryName, 'ECR repository (backend.repository)');
    output('RepositoryUri', repository.repositoryUri, 'ECR repository URI');
    output('BucketName', siteBucket.bucketName, 'S3 site bucket (frontend.bucket)');
    output('DistributionId', distribution.distributionId, 'CloudFront distribution (frontend.distribution)');
    output('DistributionDomainName', distribution.distributionDomainName, 'CloudFront domain name');
    output('SiteUrl', `https://${distribution.distributionDomainName}`, 'Public URL of the site');
    output('DeployRoleArn', deployRole.roleArn, 'Role GitHub Actions assumes to deploy/rollback (the deploy environment)');
    output('PlanRoleArn', planRole.roleArn, 'Role GitHub Actions assumes to plan (pull requests)');

    if (props.acknowledgeNag ?? true) acknowledgeNagFindings(this);
    applyTemplateCheckMetadata(this, shifting ? TRAFFIC_SHIFTING_CFN_LINT_IGNORES : []);
  }

  // `env` with account/region alone still makes `Vpc` look up the AZs (a context lookup): answer it.
  public override get availabilityZones(): string[] {
    return this.azs;
  }
}

/**
 * The two alarms a traffic-shifting deployment rolls back on, each over both api target groups
 * (either one may hold the new revision): the share of requests the targets answer with a 5xx
 * (HTTPCode_Target_5XX_Count / RequestCount, %) and the p99 of TargetResponseTime, per minute, two
 * minutes in a row (ALB CloudWatch metrics, "CloudWatch metrics for your Application Load Balancer").
 * No requests is no data, which is not breaching.
 */
function deploymentAlarms(
  scope: Construct,
  base: string,
  alb: elbv2.ApplicationLoadBalancer,
  groups: elbv2.ApplicationTargetGroup[],
): cloudwatch.Alarm[] {
  const period = Duration.minutes(1);
  const metric = (name: string, group: elbv2.ApplicationTargetGroup, statistic: string): cloudwatch.Metric =>
    new cloudwatch.Metric({
      namespace: 'AWS/ApplicationELB',
      metricName: name,
      dimensionsMap: { LoadBalancer: alb.loadBalancerFullName, TargetGroup: group.targetGroupFullName },
      statistic,
      period,
    });
  const ids = groups.map((_, i) => String.fromCharCode(97 + i));
  const errorRate = new cloudwatch.MathExpression({
    label: 'api target 5xx share of requests (%), the worse target group',
    expression: `MAX([${ids.map((i) => `100 * FILL(e${i}, 0) / FILL(r${i}, 1)`).join(', ')}])`,
    usingMetrics: Object.fromEntries(
      groups.flatMap((g, n) => [
        [`e${ids[n]}`, metric('HTTPCode_Target_5XX_Count', g, 'Sum')],
        [`r${ids[n]}`, metric('RequestCount', g, 'Sum')],
      ]),
    ),
    period,
  });
  const latency = new cloudwatch.MathExpression({
    label: 'api target p99 response time (s), the worse target group',
    expression: `MAX([${ids.map((i) => `l${i}`).join(', ')}])`,
    usingMetrics: Object.fromEntries(groups.map((g, n) => [`l${ids[n]}`, metric('TargetResponseTime', g, 'p99')])),
    period,
  });
  const alarm = (id: string, name: string, value: cloudwatch.IMetric, threshold: number, what: string): cloudwatch.Alarm =>
    new cloudwatch.Alarm(scope, id, {
      alarmName: `${base}-api-${name}`,
      alarmDescription: `${base} api: ${what}; a deployment ECS is watching rolls back when this is in ALARM`,
      metric: value,
      threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  return [
    alarm('ApiTarget5xxAlarm', 'target-5xx-rate', errorRate, ALARM_5XX_PERCENT, `more than ${ALARM_5XX_PERCENT} % of requests answered 5xx`),
    alarm('ApiLatencyAlarm', 'target-p99-latency', latency, ALARM_P99_LATENCY_SECONDS, `p99 response time above ${ALARM_P99_LATENCY_SECONDS} s`),
  ];
}

/** An ECS secret read from an SSM SecureString imported by name; grants exactly `ssm:GetParameters`. */
class SsmSecureStringSecret extends ecs.Secret {
  public readonly arn: string;
  public readonly hasField = false;
  constructor(stack: Stack, parameterName: string) {
    super();
    this.arn = stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: parameterName.replace(/^\//, '') });
  }
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['ssm:GetParameters'], resourceArns: [this.arn] });
  }
}

export interface DeployRoleScope {
  repositoryArn: string;
  serviceArn: string;
  /** The service's deployments (`service-deployment/<cluster>/<service>/*`). */
  serviceDeploymentsArn: string;
  clusterArn: string;
  passRoleArns: string[];
  /** The task family's revisions (`task-definition/<family>:*`). */
  taskDefinitionArn: string;
  bucketArn: string;
  distributionArn: string;
  stackArn: string;
  /** The SSM parameters the task definition's secrets read (`deckhand secrets sync` writes them). */
  secretParameterArns: string[];
  /** The alarms of the service's deploymentConfiguration (BLUE_GREEN, LINEAR, CANARY); none for ROLLING. */
  alarmArns?: string[];
}

/**
 * Exactly the calls `deckhand deploy` / `rollback` / `secrets sync` make, each on the one resource
 * it touches.
 */
export function deployRoleStatements(s: DeployRoleScope): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'StackDiscovery', actions: ['cloudformation:DescribeStacks'], resources: [s.stackArn] }),
    // GetAuthorizationToken has no resource-level permissions.
    new iam.PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    new iam.PolicyStatement({
      sid: 'EcrPush',
      actions: [
        'ecr:BatchCheckLayerAvailability',
        'ecr:BatchGetImage',
        'ecr:CompleteLayerUpload',
        'ecr:DescribeImages',
        'ecr:DescribeRepositories',
        'ecr:GetDownloadUrlForLayer',
        'ecr:InitiateLayerUpload',
        'ecr:PutImage',
        'ecr:UploadLayerPart',
      ],
      resources: [s.repositoryArn],
    }),
    // RegisterTaskDefinition / DescribeTaskDefinition have no resource-level permissions.
    new iam.PolicyStatement({
      sid: 'EcsTaskDefinitions',
      actions: ['ecs:DescribeTaskDefinition', 'ecs:RegisterTaskDefinition'],
      resources: ['*'],
    }),
    // deckhand tags every revision it registers; AWS authorises tag-on-create as ecs:TagResource on
    // the new revision, with ecs:CreateAction naming the create call.
    new iam.PolicyStatement({
      sid: 'EcsTagOnCreate',
      actions: ['ecs:TagResource'],
      resources: [s.taskDefinitionArn],
      conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
    }),
    new iam.PolicyStatement({ sid: 'EcsService', actions: ['ecs:DescribeServices', 'ecs:UpdateService'], resources: [s.serviceArn] }),
    // The rollout, stage by stage (DescribeServiceDeployments), and a rollback of a deployment still
    // in flight: ECS's own StopServiceDeployment (ROLLBACK) instead of a new deployment.
    new iam.PolicyStatement({
      sid: 'EcsServiceDeployments',
      actions: ['ecs:DescribeServiceDeployments', 'ecs:StopServiceDeployment'],
      resources: [s.serviceDeploymentsArn],
    }),
    // backend.pre-deploy (a migration): one task from the new revision before the rollout. RunTask's
    // resource is the task definition, StopTask's (at its timeout) the task; both take the ecs:cluster
    // condition (Service Authorization Reference, "Actions, resources, and condition keys for Amazon
    // Elastic Container Service": RunTask task-definition*, StopTask task*, ecs:cluster). The roles the
    // task runs with are passed as for the service's revisions (PassTaskRoles below).
    new iam.PolicyStatement({
      sid: 'EcsPreDeployTask',
      actions: ['ecs:RunTask'],
      resources: [s.taskDefinitionArn],
      conditions: { ArnEquals: { 'ecs:cluster': s.clusterArn } },
    }),
    new iam.PolicyStatement({
      sid: 'EcsTasks',
      actions: ['ecs:DescribeTasks', 'ecs:ListTasks', 'ecs:StopTask'],
      resources: ['*'],
      conditions: { ArnEquals: { 'ecs:cluster': s.clusterArn } },
    }),
    new iam.PolicyStatement({
      sid: 'PassTaskRoles',
      actions: ['iam:PassRole'],
      resources: s.passRoleArns,
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
    new iam.PolicyStatement({ sid: 'SiteBucketList', actions: ['s3:ListBucket'], resources: [s.bucketArn] }),
    new iam.PolicyStatement({
      sid: 'SiteBucketObjects',
      // PutObject also covers the multipart calls (Create/UploadPart/Complete); Abort is separate.
      actions: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
      resources: [`${s.bucketArn}/*`],
    }),
    new iam.PolicyStatement({
      sid: 'Distribution',
      actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
      resources: [s.distributionArn],
    }),
    // DescribeParameters (metadata only, never values) resolves the configured names to ARNs for
    // the task definition; it has no resource-level permissions.
    new iam.PolicyStatement({ sid: 'SecretsMetadata', actions: ['ssm:DescribeParameters'], resources: ['*'] }),
    // `deckhand secrets sync`: reads the two parameters' values (GetParameters WithDecryption) to
    // compare them with the GitHub secrets, and writes (PutParameter, SecureString, overwrite) only
    // those that differ; on these two parameters and no other. They use the default aws/ssm key,
    // which needs no KMS statement (a customer-managed key would need kms:Decrypt/Encrypt on it).
    new iam.PolicyStatement({ sid: 'SecretsSync', actions: ['ssm:GetParameters', 'ssm:PutParameter'], resources: s.secretParameterArns }),
    // A deployment rolled back on an alarm: the watcher names the alarm and its state reason
    // (DescribeAlarms, whose resource is the alarm: Service Authorization Reference, CloudWatch).
    // deckhand never passes the infrastructure role (UpdateService names only the task definition),
    // so no iam:PassRole of it here.
    ...((s.alarmArns ?? []).length > 0
      ? [new iam.PolicyStatement({ sid: 'DeploymentAlarms', actions: ['cloudwatch:DescribeAlarms'], resources: s.alarmArns })]
      : []),
  ];
}

export interface PromoteSourceScope {
  /** The source environment's site bucket (its release records, stored objects and site files). */
  bucketArn: string;
  /** The source environment's ECR repository (the image, copied by digest). */
  repositoryArn: string;
  /**
   * The source environment's stack (deckhand.yml names it: its outputs name the bucket); none when
   * it is in another account (CloudFormation has no resource-based policies: see promoteFromAccount).
   */
  stackArn?: string;
}

/**
 * What `deckhand promote` reads of the environment it promotes from, and nothing it could write:
 * the stack's outputs, the release records and the site's files (listed, read; CopyObject reads
 * its source with s3:GetObject: "Permissions" of CopyObject, Amazon S3 API Reference), the image's
 * manifest and layers by digest. A promotion writes only this environment's resources. In another
 * account these identity statements are half of the grant: the source's bucket and repository
 * policies (promoteTargetStatements, in the source's stack) are the other half ("Policy evaluation
 * logic – cross-account policy evaluation logic", IAM User Guide: a cross-account request needs an
 * Allow in the caller's identity policy AND in the resource's policy).
 */
export function promoteSourceStatements(s: PromoteSourceScope): iam.PolicyStatement[] {
  return [
    ...(s.stackArn === undefined
      ? []
      : [new iam.PolicyStatement({ sid: 'PromoteSourceStack', actions: ['cloudformation:DescribeStacks'], resources: [s.stackArn] })]),
    new iam.PolicyStatement({ sid: 'PromoteSourceBucketList', actions: ['s3:ListBucket'], resources: [s.bucketArn] }),
    new iam.PolicyStatement({ sid: 'PromoteSourceBucketRead', actions: ['s3:GetObject'], resources: [`${s.bucketArn}/*`] }),
    new iam.PolicyStatement({
      sid: 'PromoteSourceImage',
      actions: ['ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer'],
      resources: [s.repositoryArn],
    }),
  ];
}

export interface PromoteTargetScope {
  /** The promoting environment's DeployRole, in another account. */
  principalArn: string;
  /** This stack's site bucket, and all its objects. */
  bucketArn: string;
  objectsArn: string;
}

/**
 * The resource-policy half of a promotion across accounts, in the stack promoted FROM: its site
 * bucket's policy and its ECR repository's policy let the promoting environment's DeployRole read,
 * and only read, what `deckhand promote` reads (promoteSourceStatements, the identity half, in the
 * promoting stack). Without both halves AWS denies a cross-account request ("Policy evaluation
 * logic – cross-account policy evaluation logic", IAM User Guide).
 *
 * - S3: ListBucket on the bucket, GetObject on its objects, as "Bucket owner granting cross-account
 *   bucket permissions" (Amazon S3 User Guide, example walkthrough 2) grants another account's
 *   principal. The bucket is SSE-S3 (S3_MANAGED), so no KMS key policy is involved: an SSE-KMS
 *   customer key would need kms:Decrypt for the same principal in its key policy too. The bucket
 *   enforces BucketOwnerEnforced, so staging owns every object and the bucket policy governs them all.
 * - ECR: BatchGetImage (the manifest) and GetDownloadUrlForLayer (the layers) — "Allow another
 *   account" in "Private repository policy examples in Amazon ECR" (ECR User Guide) — plus
 *   DescribeImages, a repository-level action a repository policy can grant (promote checks the
 *   record's digest is one the repository holds). GetAuthorizationToken stays in the promoting
 *   role's identity policy (Resource "*"): its token works for any registry the principal may read
 *   (ECR API Reference, GetAuthorizationToken). The repository is AES256-encrypted: no KMS key.
 *
 * The principal is exactly that role's ARN, not the account root (`arn:aws:iam::ACCOUNT:root`): the
 * root principal delegates to every identity of the other account whose identity policy allows
 * these actions (an administrator, another CI role), while the role's ARN admits only DeployRole's
 * sessions — the promote job of production's GitHub environment, behind its required reviewers.
 * IAM stores a role ARN principal as the role's unique id ("AWS JSON policy elements: Principal",
 * IAM User Guide): a production DeployRole deleted and created again is not trusted until this
 * stack is deployed again with its ARN.
 */
export function promoteTargetStatements(s: PromoteTargetScope): { bucket: iam.PolicyStatement[]; repository: iam.PolicyStatement } {
  const principals = [new iam.ArnPrincipal(s.principalArn)];
  return {
    bucket: [
      new iam.PolicyStatement({ sid: 'PromoteToList', principals, actions: ['s3:ListBucket'], resources: [s.bucketArn] }),
      new iam.PolicyStatement({ sid: 'PromoteToRead', principals, actions: ['s3:GetObject'], resources: [s.objectsArn] }),
    ],
    repository: new iam.PolicyStatement({
      sid: 'PromoteToPull',
      principals,
      actions: ['ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer'],
    }),
  };
}

export interface PlanRoleScope {
  repositoryArn: string;
  serviceArn: string;
  serviceDeploymentsArn: string;
  bucketArn: string;
  distributionArn: string;
  stackArn: string;
}

/** Read-only: what `deckhand plan` / `status` / `releases` read. No secret values. */
export function planRoleStatements(s: PlanRoleScope): iam.PolicyStatement[] {
  return [
    new iam.PolicyStatement({ sid: 'StackDiscovery', actions: ['cloudformation:DescribeStacks'], resources: [s.stackArn] }),
    new iam.PolicyStatement({ sid: 'EcrRead', actions: ['ecr:DescribeImages', 'ecr:DescribeRepositories'], resources: [s.repositoryArn] }),
    // `plan` reads the image it would deploy back from ECR's registry (registry API: its manifest and
    // config blob) to check its platform against the task's and to say why a build is needed (the
    // running image's label): a login, then pulls of manifests and blobs, no write.
    new iam.PolicyStatement({ sid: 'EcrLogin', actions: ['ecr:GetAuthorizationToken'], resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'EcrPull', actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'], resources: [s.repositoryArn] }),
    new iam.PolicyStatement({ sid: 'EcsTaskDefinitions', actions: ['ecs:DescribeTaskDefinition'], resources: ['*'] }),
    new iam.PolicyStatement({ sid: 'EcsService', actions: ['ecs:DescribeServices'], resources: [s.serviceArn] }),
    // `status`: the stage of a deployment in flight.
    new iam.PolicyStatement({ sid: 'EcsServiceDeployments', actions: ['ecs:DescribeServiceDeployments'], resources: [s.serviceDeploymentsArn] }),
    new iam.PolicyStatement({ sid: 'SiteBucketList', actions: ['s3:ListBucket'], resources: [s.bucketArn] }),
    new iam.PolicyStatement({ sid: 'SiteBucketRead', actions: ['s3:GetObject'], resources: [`${s.bucketArn}/*`] }),
    // Checks that the configured SSM parameters exist: names and ARNs only, no values.
    new iam.PolicyStatement({ sid: 'SecretsMetadata', actions: ['ssm:DescribeParameters'], resources: ['*'] }),
    new iam.PolicyStatement({
      sid: 'DistributionRead',
      actions: ['cloudfront:GetDistribution'],
      resources: [s.distributionArn],
    }),
  ];
}
