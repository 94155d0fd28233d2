// One stack per environment (issue 25): a stack synthesized with `promoteFrom` (context
// promoteFrom=staging) gives its DeployRole read access to exactly what `deckhand promote` reads of
// that environment's stack (its outputs, its bucket's records and files, its image), and no write
// there; without it, nothing of another stack. The roles test (dev/roles/test_promote_roles.py)
// runs the promotion as these roles on the local stack, which enforces IAM.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../lib/app';
import { nagAcknowledgements } from '../lib/nag';
import { actions, defaultStack, only, roleIdFor, roleStatements, synth } from './helpers';

const WRITES = /^(s3:(Put|Delete|Abort|Restore)|ecr:(Put|Upload|Initiate|Complete|BatchDelete|BatchCheck|Delete|Tag)|cloudformation:(Create|Update|Delete|Execute)|ecs:|iam:|ssm:|cloudfront:)/;

describe('promoteFrom', () => {
  const production = synth({ promoteFrom: 'staging' });
  const deployRole = roleIdFor(production.json, production.stack, 'DeployRole');
  const statements = roleStatements(production.json, deployRole);
  const text = (x: unknown): string => JSON.stringify(x);
  const onStaging = statements.filter((s) => /spa-ecs-staging/.test(text(s.Resource)));

  test("gives DeployRole read access to the source stack's outputs, bucket and image, nothing else of it", () => {
    assert.deepEqual(
      onStaging.map((s) => [s.Sid, actions(s)]),
      [
        ['PromoteSourceStack', ['cloudformation:DescribeStacks']],
        ['PromoteSourceBucketList', ['s3:ListBucket']],
        ['PromoteSourceBucketRead', ['s3:GetObject']],
        ['PromoteSourceImage', ['ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer']],
      ],
    );
    for (const s of onStaging) {
      assert.equal(s.Effect, 'Allow');
      assert.deepEqual(actions(s).filter((a) => WRITES.test(a)), [], `${String(s.Sid)} writes`);
    }
    assert.match(text(onStaging[1].Resource), /:s3:::spa-ecs-staging-site-123456789012-us-east-1"/);
    assert.match(text(onStaging[2].Resource), /:s3:::spa-ecs-staging-site-123456789012-us-east-1\/\*"/);
    assert.match(text(onStaging[3].Resource), /:repository\/spa-ecs-staging-api"/);
    assert.match(text(onStaging[0].Resource), /:stack\/spa-ecs-staging\/\*"/);
  });

  test("every other statement is the role's own stack's, as without promoteFrom", () => {
    const plain = defaultStack();
    const own = roleStatements(plain.json, roleIdFor(plain.json, plain.stack, 'DeployRole'));
    assert.deepEqual(
      statements.filter((s) => !onStaging.includes(s)).map((s) => text(s)),
      own.map((s) => text(s)),
    );
    assert.deepEqual(own.filter((s) => /Promote/.test(String(s.Sid))), []);
  });

  test('the plan role reads nothing of the source environment', () => {
    const plan = roleStatements(production.json, roleIdFor(production.json, production.stack, 'PlanRole'));
    assert.deepEqual(plan.filter((s) => /spa-ecs-staging/.test(text(s.Resource))), []);
  });

  test('an environment cannot promote from itself', () => {
    assert.throws(() => synth({ promoteFrom: 'prod' }), /cannot promote from itself/);
  });
});

describe('promoteFrom under cdk-nag', () => {
  test('synthesizes with every finding acknowledged (the source bucket and stack wildcards, each with its reason)', () => {
    const { app } = buildApp({ promoteFrom: 'staging', outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'promote-nag-')) });
    const report = new AwsSolutionsChecks().validateScope(app);
    const open = report.violations.flatMap((v) => v.violatingResources.map((r) => `${r.constructPath} ${v.ruleName}`));
    const acknowledged = (id: string): boolean =>
      nagAcknowledgements(app.node.findChild('spa-ecs') as never).some((a) => a.id.includes(id));
    assert.ok(acknowledged('spa-ecs-staging-site-123456789012-us-east-1/*'));
    assert.ok(acknowledged('stack/spa-ecs-staging/*'));
    assert.doesNotThrow(() => app.synth(), `unacknowledged findings: ${open.join(', ')}`);
  });
});

// Environments in separate accounts (issue 25): production (account 222222222222) synthesized with
// promoteFrom=staging, promoteFromAccount=111111111111; staging (111111111111) with
// promoteToRoleArn = production's DeployRole. A cross-account request needs an Allow on both sides
// ("Policy evaluation logic – cross-account policy evaluation logic", IAM User Guide).
const STAGING = '111111111111';
const PRODUCTION = '222222222222';
const PROD_ROLE = `arn:aws:iam::${PRODUCTION}:role/spa-ecs-DeployRole-ABC123`;

describe('promoteFromAccount (the promoting stack, another account)', () => {
  const production = synth({ account: PRODUCTION, promoteFrom: 'staging', promoteFromAccount: STAGING });
  const statements = roleStatements(production.json, roleIdFor(production.json, production.stack, 'DeployRole'));
  const text = (x: unknown): string => JSON.stringify(x);
  const promote = statements.filter((s) => /^Promote/.test(String(s.Sid)));

  test("names the source account's bucket and repository, read-only, and no DescribeStacks (CloudFormation has no resource policies)", () => {
    assert.deepEqual(
      promote.map((s) => [s.Sid, actions(s), text(s.Resource)]),
      [
        ['PromoteSourceBucketList', ['s3:ListBucket'], `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":s3:::spa-ecs-staging-site-${STAGING}-us-east-1"]]}`],
        ['PromoteSourceBucketRead', ['s3:GetObject'], `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":s3:::spa-ecs-staging-site-${STAGING}-us-east-1/*"]]}`],
        [
          'PromoteSourceImage',
          ['ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer'],
          `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":ecr:us-east-1:${STAGING}:repository/spa-ecs-staging-api"]]}`,
        ],
      ],
    );
    assert.deepEqual(statements.filter((s) => actions(s).includes('cloudformation:DescribeStacks') && /staging/.test(text(s.Resource))), []);
    assert.deepEqual(statements.filter((s) => text(s.Resource).includes(PRODUCTION) === false && /staging/.test(text(s.Resource)) && !promote.includes(s)), []);
  });

  test('is refused without promoteFrom, or when it is not an account id', () => {
    assert.throws(() => synth({ account: PRODUCTION, promoteFromAccount: STAGING }), /only with promoteFrom/);
    assert.throws(() => synth({ account: PRODUCTION, promoteFrom: 'staging', promoteFromAccount: '1111' }), /expected 12 digits/);
  });

  test('synthesizes under cdk-nag with no DescribeStacks wildcard to acknowledge', () => {
    const { app } = buildApp({
      account: PRODUCTION,
      promoteFrom: 'staging',
      promoteFromAccount: STAGING,
      outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'promote-nag-')),
    });
    const acks = nagAcknowledgements(app.node.findChild('spa-ecs') as never).map((a) => a.id);
    assert.ok(acks.some((id) => id.includes(`spa-ecs-staging-site-${STAGING}-us-east-1/*`)));
    assert.ok(!acks.some((id) => id.includes('stack/spa-ecs-staging/*')));
    assert.doesNotThrow(() => app.synth());
  });
});

describe('promoteToRoleArn (the stack promoted from, in another account)', () => {
  const staging = synth({ environment: 'staging', account: STAGING, promoteToRoleArn: PROD_ROLE });
  const plain = synth({ environment: 'staging', account: STAGING });
  const policyOf = (json: typeof staging.json, type: string, key: string): Record<string, unknown>[] => {
    const [, r] = only(json, type);
    return ((r.Properties?.[key] as { Statement: Record<string, unknown>[] }).Statement ?? []) as Record<string, unknown>[];
  };
  const bucketStatements = policyOf(staging.json, 'AWS::S3::BucketPolicy', 'PolicyDocument');
  const granted = bucketStatements.filter((s) => JSON.stringify(s.Principal).includes(PRODUCTION));

  test("the site bucket's policy lets exactly production's DeployRole list and read, nothing else", () => {
    assert.deepEqual(
      granted.map((s) => [s.Sid, s.Effect, s.Principal, actions(s)]),
      [
        ['PromoteToList', 'Allow', { AWS: PROD_ROLE }, ['s3:ListBucket']],
        ['PromoteToRead', 'Allow', { AWS: PROD_ROLE }, ['s3:GetObject']],
      ],
    );
    assert.match(JSON.stringify(granted[0].Resource), /"Fn::GetAtt":\["SiteBucket[0-9A-F]+","Arn"\]\}$/);
    assert.match(JSON.stringify(granted[1].Resource), /"\/\*"\]\]\}$/);
    // Every other statement is the bucket's own, as without promoteToRoleArn (TLS, CloudFront).
    const own = policyOf(plain.json, 'AWS::S3::BucketPolicy', 'PolicyDocument');
    assert.deepEqual(bucketStatements.filter((s) => !granted.includes(s)), own);
  });

  test("the ECR repository's policy lets exactly production's DeployRole pull by digest and describe images", () => {
    const [, repo] = only(staging.json, 'AWS::ECR::Repository');
    const stmts = (repo.Properties?.RepositoryPolicyText as { Statement: Record<string, unknown>[] }).Statement;
    assert.deepEqual(
      stmts.map((s) => [s.Sid, s.Effect, s.Principal, actions(s)]),
      [['PromoteToPull', 'Allow', { AWS: PROD_ROLE }, ['ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer']]],
    );
    const [, plainRepo] = only(plain.json, 'AWS::ECR::Repository');
    assert.equal(plainRepo.Properties?.RepositoryPolicyText, undefined);
  });

  test('grants no write, and no account root', () => {
    const [, repo] = only(staging.json, 'AWS::ECR::Repository');
    const all = [...granted, ...(repo.Properties?.RepositoryPolicyText as { Statement: Record<string, unknown>[] }).Statement];
    for (const s of all) {
      assert.deepEqual(actions(s).filter((a) => WRITES.test(a) || a.includes('*')), [], `${String(s.Sid)} writes`);
      assert.doesNotMatch(JSON.stringify(s.Principal), /:root"/);
    }
  });

  test("is refused for a role of the stack's own account, or a value that is not a role ARN", () => {
    assert.throws(() => synth({ environment: 'staging', account: STAGING, promoteToRoleArn: `arn:aws:iam::${STAGING}:role/x` }), /needs no resource policy/);
    assert.throws(() => synth({ environment: 'staging', account: STAGING, promoteToRoleArn: `arn:aws:iam::${PRODUCTION}:root` }), /expected an IAM role ARN/);
  });

  test('synthesizes under cdk-nag with every finding acknowledged', () => {
    const { app } = buildApp({
      environment: 'staging',
      account: STAGING,
      promoteToRoleArn: PROD_ROLE,
      outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'promote-nag-')),
    });
    assert.doesNotThrow(() => app.synth());
  });
});
