/** Every physical name the stack uses, derived from the app and environment names. */
export interface ResourceNames {
  /** `<app>` in prod, `<app>-<env>` elsewhere: the stack name and the prefix of every name. */
  readonly base: string;
  readonly stack: string;
  readonly cluster: string;
  readonly service: string;
  readonly taskFamily: string;
  readonly repository: string;
  readonly claudeApiKeyParameter: string;
  readonly apiAccessTokenParameter: string;
  bucket(account: string, region: string): string;
}

const NAME = /^[a-z][a-z0-9-]{0,22}[a-z0-9]$/;

export const DEFAULT_APP_NAME = 'spa-ecs';
export const DEFAULT_ENVIRONMENT = 'prod';

export function resourceNames(appName: string, environment: string): ResourceNames {
  if (!NAME.test(appName)) {
    throw new Error(`app name ${JSON.stringify(appName)}: use 2-24 lowercase letters, digits and dashes, starting with a letter`);
  }
  if (!NAME.test(environment)) {
    throw new Error(`environment ${JSON.stringify(environment)}: use 2-24 lowercase letters, digits and dashes, starting with a letter`);
  }
  const base = environment === DEFAULT_ENVIRONMENT ? appName : `${appName}-${environment}`;
  return {
    base,
    stack: base,
    cluster: base,
    service: 'api',
    taskFamily: `${base}-api`,
    repository: `${base}-api`,
    claudeApiKeyParameter: `/${base}/claude-api-key`,
    apiAccessTokenParameter: `/${base}/api-access-token`,
    // Bucket names are global: the account and region make them unique.
    bucket: (account, region) => `${base}-site-${account}-${region}`,
  };
}
