import * as path from 'node:path';
import { App, CliCredentialsStackSynthesizer, type IStackSynthesizer, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_APP_NAME, DEFAULT_ENVIRONMENT, resourceNames } from './names';
import { SpaEcsStack } from './spa-ecs-stack';
import { contextNumber, type StrategyOptions } from './strategy';

export const INFRA_ROOT = path.resolve(__dirname, '..');
export const SPA_ROUTER_PATH = path.join(INFRA_ROOT, 'functions', 'spa-router.js');

export interface InfraAppOptions {
  appName?: string;
  environment?: string;
  account?: string;
  region?: string;
  availabilityZones?: string[];
  githubOidcProviderArn?: string;
  outdir?: string;
  /** Register cdk-nag's AwsSolutionsChecks as a validation plugin (default true). */
  nag?: boolean;
  spaRouterPath?: string;
  apiMemoryReservationMiB?: number;
  /** Record the cdk-nag acknowledgements (default true). */
  acknowledgeNag?: boolean;
  /** Workflow files whose deploy-environment jobs may assume DeployRole (context `deployWorkflows`, comma-separated). */
  deployWorkflows?: string[];
  /** Workflow files whose pull_request jobs may assume PlanRole (context `planWorkflows`). */
  planWorkflows?: string[];
  /**
   * `default` (DefaultStackSynthesizer: `cdk deploy` needs `cdk bootstrap`) or `cli-credentials`
   * (context `synthesizer`): CliCredentialsStackSynthesizer, which deploys with the CLI's own
   * credentials and no bootstrap role or version check; the template is uploaded to
   * `templateBucket` (context), a bucket of yours, or the bootstrap's staging bucket without it.
   */
  synthesizer?: string;
  templateBucket?: string;
  /**
   * The service's deployment strategy and its settings (context `strategy`, `bakeTimeMinutes`,
   * `stepPercent`, `stepBakeTimeMinutes`): lib/strategy.ts, infra/README.md "Deployment strategies".
   */
  deploymentStrategy?: StrategyOptions;
  /** The environment this one promotes from (context `promoteFrom`): see SpaEcsStackProps.promoteFrom. */
  promoteFrom?: string;
  /** Its account, when another one (context `promoteFromAccount`): see SpaEcsStackProps.promoteFromAccount. */
  promoteFromAccount?: string;
  /** Another account's DeployRole that promotes from this stack (context `promoteToRoleArn`): see SpaEcsStackProps. */
  promoteToRoleArn?: string;
}

/**
 * The synthesizer `-c synthesizer=…` asks for (undefined: the stack's default). CliCredentials's
 * template upload: `cdk deploy` publishes the template (over 50 KiB, the TemplateBody limit) as a
 * file asset to the bucket, then deploys it by TemplateURL (aws-cdk-lib
 * core/lib/stack-synthesizers/cli-credentials-synthesizer.ts).
 */
function synthesizerFor(kind: string | undefined, stackName: string, bucket: string | undefined): IStackSynthesizer | undefined {
  switch (kind ?? 'default') {
    case 'default':
      if (bucket) throw new Error('context templateBucket: only with -c synthesizer=cli-credentials');
      return undefined;
    case 'cli-credentials':
      return new CliCredentialsStackSynthesizer(bucket ? { fileAssetsBucketName: bucket, bucketPrefix: `${stackName}/` } : {});
    default:
      throw new Error(`context synthesizer ${JSON.stringify(kind)}: expected default or cli-credentials`);
  }
}

/** Default account when none is given: moto's, so an unconfigured synth targets the local stack. */
export const DEFAULT_ACCOUNT = '123456789012';
export const DEFAULT_REGION = 'us-east-1';

function contextString(app: App, key: string): string | undefined {
  const v: unknown = app.node.tryGetContext(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`context ${key}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Build the app: options win over `-c key=value` context, which wins over the defaults. */
export function buildApp(options: InfraAppOptions = {}): { app: App; stack: SpaEcsStack } {
  const app = new App({ outdir: options.outdir });
  const appName = options.appName ?? contextString(app, 'app') ?? DEFAULT_APP_NAME;
  const environment = options.environment ?? contextString(app, 'env') ?? DEFAULT_ENVIRONMENT;
  const account = options.account ?? contextString(app, 'account') ?? DEFAULT_ACCOUNT;
  const region = options.region ?? contextString(app, 'region') ?? DEFAULT_REGION;
  const azs = options.availabilityZones ?? contextString(app, 'azs')?.split(',').map((s) => s.trim());
  const githubOidcProviderArn = options.githubOidcProviderArn ?? contextString(app, 'githubOidcProviderArn');
  const list = (key: string): string[] | undefined => contextString(app, key)?.split(',').map((s) => s.trim());
  const deployWorkflows = options.deployWorkflows ?? list('deployWorkflows');
  const planWorkflows = options.planWorkflows ?? list('planWorkflows');
  const synthesizerKind = options.synthesizer ?? contextString(app, 'synthesizer');
  const templateBucket = options.templateBucket ?? contextString(app, 'templateBucket');
  const deploymentStrategy: StrategyOptions = options.deploymentStrategy ?? {
    strategy: contextString(app, 'strategy'),
    bakeTimeMinutes: contextNumber('bakeTimeMinutes', contextString(app, 'bakeTimeMinutes')),
    stepPercent: contextNumber('stepPercent', contextString(app, 'stepPercent')),
    stepBakeTimeMinutes: contextNumber('stepBakeTimeMinutes', contextString(app, 'stepBakeTimeMinutes')),
  };
  const promoteFrom = options.promoteFrom ?? contextString(app, 'promoteFrom');
  const promoteFromAccount = options.promoteFromAccount ?? contextString(app, 'promoteFromAccount');
  const promoteToRoleArn = options.promoteToRoleArn ?? contextString(app, 'promoteToRoleArn');
  if (!/^\d{12}$/.test(account)) throw new Error(`account ${JSON.stringify(account)}: expected 12 digits`);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw new Error(`region ${JSON.stringify(region)}: not an AWS region name`);
  const names = resourceNames(appName, environment);
  const synthesizer = synthesizerFor(synthesizerKind, names.stack, templateBucket);
  const stack = new SpaEcsStack(app, names.stack, {
    synthesizer,
    stackName: names.stack,
    appName,
    environment,
    account,
    region,
    availabilityZones: azs,
    githubOidcProviderArn,
    spaRouterPath: options.spaRouterPath ?? SPA_ROUTER_PATH,
    acknowledgeNag: options.acknowledgeNag,
    apiMemoryReservationMiB: options.apiMemoryReservationMiB,
    deployWorkflows,
    planWorkflows,
    deploymentStrategy,
    promoteFrom,
    promoteFromAccount,
    promoteToRoleArn,
  });
  if (options.nag ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, stack };
}
