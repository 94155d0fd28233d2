// docs/iam.md: the GitHub OIDC roles' trust and permission policies as JSON, read from the
// synthesized template of this stack (the same statements `cdk deploy` creates), with
// CloudFormation's intrinsics evaluated for an example account, region and repository. For teams
// that create the roles without `infra/`. Regenerated and compared by test/iam-doc.test.ts.

import { promoteSourceStatements, promoteTargetStatements } from './spa-ecs-stack';

/** The example values the document is rendered with (a reader replaces them with theirs). */
export const EXAMPLE = {
  account: '111122223333',
  region: 'us-east-1',
  repository: 'OWNER/REPO',
  distributionId: 'E2QWRUHEXAMPLE',
} as const;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Resource {
  Type: string;
  Properties?: Record<string, Json>;
}
export interface Template {
  Resources: Record<string, Resource>;
  Parameters?: Record<string, { Default?: Json }>;
}

/** Evaluates the intrinsics the role policies use (Ref, Fn::GetAtt Arn, Fn::Join/Select/Split). */
export function evaluate(t: Template, node: Json): Json {
  if (Array.isArray(node)) return node.map((n) => evaluate(t, n));
  if (node === null || typeof node !== 'object') return node;
  const keys = Object.keys(node);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
    const [fn] = keys;
    const arg = node[fn];
    switch (fn) {
      case 'Ref':
        return ref(t, String(arg));
      case 'Fn::GetAtt': {
        const [id, attr] = arg as [string, string];
        if (attr !== 'Arn') throw new Error(`iam-doc: Fn::GetAtt ${id}.${attr} is not modelled`);
        return arnOf(t, id);
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, Json[]];
        return parts.map((p) => String(evaluate(t, p))).join(sep);
      }
      case 'Fn::Split': {
        const [sep, s] = arg as [string, Json];
        return String(evaluate(t, s)).split(sep);
      }
      case 'Fn::Select': {
        const [i, list] = arg as [number, Json];
        const items = evaluate(t, list) as Json[];
        return items[Number(i)];
      }
      default:
        throw new Error(`iam-doc: ${fn} is not modelled (extend lib/iam-doc.ts)`);
    }
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, evaluate(t, v)]));
}

function ref(t: Template, name: string): Json {
  switch (name) {
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::Region':
      return EXAMPLE.region;
    case 'AWS::AccountId':
      return EXAMPLE.account;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'GitHubRepository':
      return EXAMPLE.repository;
  }
  const param = t.Parameters?.[name];
  if (param) {
    if (param.Default === undefined) throw new Error(`iam-doc: parameter ${name} has no default to show`);
    return param.Default;
  }
  const r = t.Resources[name];
  if (!r) throw new Error(`iam-doc: Ref ${name}: no such parameter or resource`);
  const p = r.Properties ?? {};
  switch (r.Type) {
    case 'AWS::CloudFront::Distribution':
      return EXAMPLE.distributionId;
    case 'AWS::IAM::OIDCProvider':
      return arnOf(t, name);
    case 'AWS::S3::Bucket':
      return p.BucketName as string;
    case 'AWS::ECS::Cluster':
      return p.ClusterName as string;
    case 'AWS::ECR::Repository':
      return p.RepositoryName as string;
    case 'AWS::IAM::Role':
      return roleName(name, p);
  }
  throw new Error(`iam-doc: Ref of a ${r.Type} is not modelled`);
}

function roleName(id: string, p: Record<string, Json>): string {
  // A role without RoleName gets a generated one; the document shows the construct's id.
  return typeof p.RoleName === 'string' ? p.RoleName : `${id.replace(/[0-9A-F]{8}$/, '')}-EXAMPLE`;
}

function arnOf(t: Template, id: string): string {
  const r = t.Resources[id];
  if (!r) throw new Error(`iam-doc: Fn::GetAtt ${id}: no such resource`);
  const p = r.Properties ?? {};
  const { account, region } = EXAMPLE;
  switch (r.Type) {
    case 'AWS::ECR::Repository':
      return `arn:aws:ecr:${region}:${account}:repository/${String(p.RepositoryName)}`;
    case 'AWS::S3::Bucket':
      return `arn:aws:s3:::${String(p.BucketName)}`;
    case 'AWS::ECS::Cluster':
      return `arn:aws:ecs:${region}:${account}:cluster/${String(p.ClusterName)}`;
    case 'AWS::IAM::Role':
      return `arn:aws:iam::${account}:role/${roleName(id, p)}`;
    case 'AWS::IAM::OIDCProvider':
      return `arn:aws:iam::${account}:oidc-provider/${String(p.Url).replace(/^https:\/\//, '')}`;
  }
  throw new Error(`iam-doc: the ARN of a ${r.Type} is not modelled`);
}

/** The role's trust policy and the statements of the inline policies attached to it. */
export function rolePolicies(t: Template, logicalIdPrefix: string): { trust: Json; permissions: Json } {
  const ids = Object.keys(t.Resources).filter(
    (id) => t.Resources[id].Type === 'AWS::IAM::Role' && id.replace(/[0-9A-F]{8}$/, '') === logicalIdPrefix,
  );
  if (ids.length !== 1) throw new Error(`iam-doc: expected one role ${logicalIdPrefix}, found ${ids.length}`);
  const [id] = ids;
  const statements: Json[] = [];
  for (const r of Object.values(t.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    const roles = (r.Properties?.Roles ?? []) as Json[];
    if (!roles.some((x) => JSON.stringify(x) === JSON.stringify({ Ref: id }))) continue;
    const doc = r.Properties?.PolicyDocument as { Statement: Json[] };
    statements.push(...doc.Statement);
  }
  const trust = evaluate(t, t.Resources[id].Properties?.AssumeRolePolicyDocument ?? null);
  const permissions = evaluate(t, { Version: '2012-10-17', Statement: statements });
  return { trust, permissions };
}

const json = (v: Json): string => `\`\`\`json\n${JSON.stringify(v, null, 2)}\n\`\`\``;

/** Staging's account in the separate-accounts example (production's is EXAMPLE.account). */
export const EXAMPLE_STAGING_ACCOUNT = '444455556666';

/** The two halves of a promotion across accounts, rendered from the functions the stack uses. */
function crossAccount(): { identity: Json; bucket: Json; repository: Json; role: string; bucketName: string } {
  const { account, region } = EXAMPLE;
  const staging = EXAMPLE_STAGING_ACCOUNT;
  const bucketName = `spa-ecs-staging-site-${staging}-${region}`;
  const role = `arn:aws:iam::${account}:role/spa-ecs-DeployRole-EXAMPLE`;
  const doc = (statements: { toStatementJson(): unknown }[]): Json =>
    ({ Version: '2012-10-17', Statement: statements.map((s) => s.toStatementJson() as Json) }) as Json;
  const target = promoteTargetStatements({
    principalArn: role,
    bucketArn: `arn:aws:s3:::${bucketName}`,
    objectsArn: `arn:aws:s3:::${bucketName}/*`,
  });
  return {
    identity: doc(
      promoteSourceStatements({
        bucketArn: `arn:aws:s3:::${bucketName}`,
        repositoryArn: `arn:aws:ecr:${region}:${staging}:repository/spa-ecs-staging-api`,
      }),
    ),
    bucket: doc(target.bucket),
    repository: doc([target.repository]),
    role,
    bucketName,
  };
}

/** The whole of docs/iam.md. */
export function renderIamDoc(t: Template): string {
  const deploy = rolePolicies(t, 'DeployRole');
  const plan = rolePolicies(t, 'PlanRole');
  const { account, region, repository, distributionId } = EXAMPLE;
  const x = crossAccount();
  return `# IAM: the roles deckhand runs as

<!-- Generated from the synthesized stack of infra/ (infra/lib/iam-doc.ts, checked by
infra/test/iam-doc.test.ts): do not edit by hand; run \`UPDATE_DOCS=1 npm test\` in infra/. -->

GitHub Actions jobs get AWS credentials from GitHub's OIDC provider: no access key is stored
anywhere. The \`infra/\` stack creates two roles, and these are their policies exactly as it
deploys them, for the stack \`spa-ecs\` in account \`${account}\`, region \`${region}\`, for the
repository \`${repository}\` (replace those, the bucket, the repository and the distribution id
\`${distributionId}\` with yours). A team that creates its roles another way (Terraform, the console,
its own CDK) can copy them from here. What each statement is for: [infra/README.md](../infra/README.md#deploy-role-exactly-what-deckhand-calls).

| role | used by | stack output | repository variable |
| --- | --- | --- | --- |
| DeployRole | \`deckhand deploy\`, \`rollback\`, \`secrets sync\` (deploy.yml, rollback.yml) | \`DeployRoleArn\` | \`DEPLOY_ROLE_ARN\` |
| PlanRole | \`deckhand plan\`, \`status\`, \`releases\` (preview.yml, pull requests): read-only, no secret value | \`PlanRoleArn\` | \`PLAN_ROLE_ARN\` |

Without \`stack:\` in \`deckhand.yml\` (the names given directly), \`cloudformation:DescribeStacks\`
(statement \`StackDiscovery\`) is not needed. With a customer-managed KMS key on the SSM
parameters, DeployRole also needs \`kms:Decrypt\` and \`kms:Encrypt\` on that key (the default
\`aws/ssm\` key needs no statement). The tasks' execution role needs \`ssm:GetParameters\` on the same
parameters (ECS reads them when a task starts); DeployRole may pass only the task definition's
execution and task roles (\`iam:PassRole\`).

## The OIDC provider

One per account: \`arn:aws:iam::${account}:oidc-provider/token.actions.githubusercontent.com\`,
audience \`sts.amazonaws.com\` (\`aws iam create-open-id-connect-provider --url
https://token.actions.githubusercontent.com --client-id-list sts.amazonaws.com\`: no thumbprint is
needed, IAM checks GitHub's certificate against its own trusted root CAs, as the
[CreateOpenIDConnectProvider](https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html)
reference says). \`infra/\` creates it unless given \`-c githubOidcProviderArn=ARN\` (an account that has one).

## Trust: which jobs may assume each role

The roles trust the repository's **customised** OIDC subject (\`infra/github-oidc-sub.json\`: \`repo\`,
\`context\`, \`ref\`, \`job_workflow_ref\`), which the repository must be set to first (see
[getting-started.md](getting-started.md)); GitHub's default subject is refused. DeployRole: the
production environment's jobs of \`deploy.yml\` and \`rollback.yml\` as they are on the default branch.
A repository with immutable subject claims is written \`OWNER@OWNER_ID/REPO@REPO_ID\` after \`repo:\`
(the \`job_workflow_ref\` part keeps the names).

${json(deploy.trust)}

PlanRole: pull-request jobs of \`preview.yml\` (\`StringLike\`: \`*\` is the pull request's number).

${json(plan.trust)}

## DeployRole's permissions

${json(deploy.permissions)}

## PlanRole's permissions

${json(plan.permissions)}

## Environments in separate accounts

Staging in one account (\`${EXAMPLE_STAGING_ACCOUNT}\`), production in another (\`${account}\`), as an AWS
Organization keeps them: \`deckhand promote --to production\` runs as production's DeployRole and reads
staging's release records, stored objects and site files (its site bucket) and its image (its ECR
repository). Across accounts AWS allows a request only when **both** the caller's identity policy and
the resource's policy allow it, and an explicit deny in either wins
([Policy evaluation logic – cross-account](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html)).
\`infra/\` writes both halves; deploy them in this order:

1. **Production** (its account), with \`-c promoteFrom=staging -c promoteFromAccount=${EXAMPLE_STAGING_ACCOUNT}\`: DeployRole gets
   these statements on staging's bucket and repository — read only, and no \`cloudformation:DescribeStacks\`
   of staging's stack, which no policy can grant across accounts (CloudFormation has no resource-based
   policies):

${json(x.identity)}

2. **Staging** (its account), with \`-c promoteToRoleArn=ARN\`, ARN being production's \`DeployRoleArn\` output
   (it must exist first: S3 and ECR refuse a policy naming an unknown principal). Its site bucket's
   policy gains (as in S3's "Bucket owner granting cross-account bucket permissions"):

${json(x.bucket)}

   and its ECR repository's policy (as in ECR's "Private repository policy examples": another
   account's pull is \`BatchGetImage\` + \`GetDownloadUrlForLayer\`; \`DescribeImages\` lets promote check the
   record's digest is one staging's repository holds). \`ecr:GetAuthorizationToken\` stays in
   production's identity policy: its token works for every registry the role may read.

${json(x.repository)}

   The principal is production's DeployRole exactly, not \`arn:aws:iam::${account}:root\`: the account
   root would let every identity of production's account that an identity policy allows these
   actions (an administrator, another pipeline) read staging; the role's ARN admits only the promote
   job of production's GitHub environment, behind its required reviewers. IAM stores the ARN as the
   role's unique id: a production DeployRole deleted and created again is trusted only after staging's
   stack is deployed again with its ARN.

3. **deckhand.yml**: production cannot read staging's stack outputs, so staging's block names what a
   promotion reads, and its \`account\`. \`promote\` compares \`account\` with its credentials' account
   (STS GetCallerIdentity) and, when they differ, reads the bucket and repository named here instead
   of the stack (without them it exits 2 naming the keys to set); staging's own jobs still use its stack.

\`\`\`yaml
environments:
  staging:
    stack: spa-ecs-staging
    account: '${EXAMPLE_STAGING_ACCOUNT}'
    frontend: { bucket: ${x.bucketName} }
    backend: { repository: spa-ecs-staging-api }
  production: { stack: spa-ecs, promote-from: staging }
\`\`\`

Neither half grants a write: production's role cannot put, delete or copy into staging's bucket,
push to or delete from its repository, or touch its service, parameters or stack; nothing in
production's account names staging's role, so staging's role cannot read production at all.
Production's PlanRole reads nothing of staging. Both buckets use SSE-S3 and both repositories AES256,
so no KMS key policy is involved; with a customer-managed key (SSE-KMS), its key policy must also
allow \`kms:Decrypt\` to production's DeployRole, and that role's identity policy \`kms:Decrypt\` on the
key. What a promotion still trusts of staging: [security.md](security.md#promotion-across-environments).
`;
}
