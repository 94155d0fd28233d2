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
import { actions, defaultStack, roleIdFor, roleStatements, synth } from './helpers';

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
