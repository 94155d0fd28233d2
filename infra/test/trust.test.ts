// Who may assume DeployRole and PlanRole: the trust policies of the synthesized template evaluated
// against the subjects GitHub writes (docs.github.com/en/actions/reference/security/oidc: the
// default subject, immutable subject claims, and the repository's customisation
// infra/github-oidc-sub.json). The roles test (dev/roles) makes the same calls against the local
// stack, which evaluates the trust as IAM does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadSubjectTemplate } from '../lib/github-oidc';
import { defaultStack, roleIdFor, synth, type TemplateJson } from './helpers';

type Params = Record<string, string>;

/** The intrinsic functions the trust policies use, resolved with parameter values. */
function resolve(v: unknown, params: Params): unknown {
  if (Array.isArray(v)) return v.map((x) => resolve(x, params));
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if ('Ref' in o) {
    const name = o.Ref as string;
    if (!(name in params)) throw new Error(`no value for parameter ${name}`);
    return params[name];
  }
  if ('Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return (resolve(parts, params) as string[]).join(sep);
  }
  if ('Fn::Split' in o) {
    const [sep, s] = o['Fn::Split'] as [string, unknown];
    return (resolve(s, params) as string).split(sep);
  }
  if ('Fn::Select' in o) {
    const [i, list] = o['Fn::Select'] as [number, unknown];
    const items = resolve(list, params) as string[];
    if (i >= items.length) throw new Error(`Fn::Select ${i} of ${JSON.stringify(items)}`);
    return items[i];
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x, params)]));
}

/** IAM's StringLike: `*` any characters, `?` one; everything else literal. */
function like(pattern: string, value: string): boolean {
  const rx = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${rx}$`, 's').test(value);
}

const HOST = 'token.actions.githubusercontent.com';

/** Whether the role's trust lets a token with this `sub` (and aud sts.amazonaws.com) in. */
function trusts(json: TemplateJson, roleId: string, params: Params, sub: string): boolean {
  const doc = json.Resources[roleId].Properties?.AssumeRolePolicyDocument as {
    Statement: { Effect: string; Action: string; Condition: unknown }[];
  };
  return doc.Statement.some((s) => {
    if (s.Effect !== 'Allow' || s.Action !== 'sts:AssumeRoleWithWebIdentity') return false;
    const claims: Record<string, string> = { [`${HOST}:aud`]: 'sts.amazonaws.com', [`${HOST}:sub`]: sub };
    const condition = resolve(s.Condition, params) as Record<string, Record<string, string | string[]>>;
    return Object.entries(condition).every(([op, tests]) =>
      Object.entries(tests).every(([key, expected]) => {
        const values = Array.isArray(expected) ? expected : [expected];
        const actual = claims[key];
        if (actual === undefined) return false;
        if (op === 'StringEquals') return values.includes(actual);
        if (op === 'StringLike') return values.some((p) => like(p, actual));
        throw new Error(`unexpected condition operator ${op}`);
      }),
    );
  });
}

const { stack, json } = defaultStack();
const deployRole = roleIdFor(json, stack, 'DeployRole');
const planRole = roleIdFor(json, stack, 'PlanRole');
const LEGACY = 'octo-org/spa-ecs';
const IMMUTABLE = 'octo-org@123456/spa-ecs@456789';
const params = (repo: string, extra: Params = {}): Params => ({
  GitHubRepository: repo,
  GitHubDeployEnvironment: 'production',
  GitHubDefaultBranch: 'main',
  ...extra,
});

/** The customised subject (repo, context, ref, job_workflow_ref) GitHub writes for a job. */
function customised(repo: string, context: string, ref: string, workflow: string, names = 'octo-org/spa-ecs'): string {
  return `repo:${repo}:${context}:ref:${ref}:job_workflow_ref:${names}/.github/workflows/${workflow}@${ref}`;
}

describe('the subject template', () => {
  test('infra/github-oidc-sub.json is the customisation the roles are built for', () => {
    assert.deepEqual(loadSubjectTemplate(), ['repo', 'context', 'ref', 'job_workflow_ref']);
  });
});

describe('DeployRole trust', () => {
  for (const [form, repo] of [['legacy (owner/name)', LEGACY], ['immutable (owner@id/name@id)', IMMUTABLE]]) {
    test(`${form}: deploy.yml and rollback.yml in the production environment on main`, () => {
      for (const wf of ['deploy.yml', 'rollback.yml']) {
        assert.ok(trusts(json, deployRole, params(repo), customised(repo, 'environment:production', 'refs/heads/main', wf)), wf);
      }
    });

    test(`${form}: not from another branch, another workflow, the default subject or a pull request`, () => {
      const refusedSubs = [
        // a dispatch from a feature branch, its workflow edited (still environment: production)
        customised(repo, 'environment:production', 'refs/heads/feature', 'rollback.yml'),
        customised(repo, 'environment:production', 'refs/heads/feature', 'deploy.yml'),
        // another workflow file of main in the environment
        customised(repo, 'environment:production', 'refs/heads/main', 'other.yml'),
        // another environment, or none
        customised(repo, 'environment:staging', 'refs/heads/main', 'deploy.yml'),
        customised(repo, 'ref:refs/heads/main', 'refs/heads/main', 'deploy.yml'),
        // GitHub's default subject (a repository without the customisation): names no branch
        `repo:${repo}:environment:production`,
        customised(repo, 'pull_request', 'refs/pull/1/merge', 'preview.yml'),
      ];
      for (const sub of refusedSubs) assert.equal(trusts(json, deployRole, params(repo), sub), false, sub);
    });
  }

  test('the repository only in the form the parameter names it', () => {
    const immutableSub = customised(IMMUTABLE, 'environment:production', 'refs/heads/main', 'deploy.yml');
    const legacySub = customised(LEGACY, 'environment:production', 'refs/heads/main', 'deploy.yml');
    assert.equal(trusts(json, deployRole, params(LEGACY), immutableSub), false);
    assert.equal(trusts(json, deployRole, params(IMMUTABLE), legacySub), false);
    // renamed: the old name (same ids), and the old name taken by another repository (another id)
    const renamed = 'octo-org@123456/spa-ecs-app@456789';
    const asRenamed = params(renamed);
    assert.ok(trusts(json, deployRole, asRenamed,
      customised(renamed, 'environment:production', 'refs/heads/main', 'deploy.yml', 'octo-org/spa-ecs-app')));
    assert.equal(trusts(json, deployRole, asRenamed, immutableSub), false);
    assert.equal(trusts(json, deployRole, asRenamed,
      customised('octo-org@123456/spa-ecs@999999', 'environment:production', 'refs/heads/main', 'deploy.yml')), false);
  });

  test('the default branch and the environment are parameters', () => {
    const p = params(LEGACY, { GitHubDefaultBranch: 'trunk', GitHubDeployEnvironment: 'prod' });
    assert.ok(trusts(json, deployRole, p, customised(LEGACY, 'environment:prod', 'refs/heads/trunk', 'deploy.yml')));
    assert.equal(trusts(json, deployRole, p, customised(LEGACY, 'environment:prod', 'refs/heads/main', 'deploy.yml')), false);
  });

  test('the workflow files are the stack\'s (synth-time) choice', () => {
    const other = synth({ deployWorkflows: ['ship.yml'] });
    const role = roleIdFor(other.json, other.stack, 'DeployRole');
    assert.ok(trusts(other.json, role, params(LEGACY), customised(LEGACY, 'environment:production', 'refs/heads/main', 'ship.yml')));
    assert.equal(trusts(other.json, role, params(LEGACY), customised(LEGACY, 'environment:production', 'refs/heads/main', 'deploy.yml')), false);
    assert.throws(() => synth({ deployWorkflows: ['../x.yml'] }), /deployWorkflows: "..\/x.yml" is not a workflow file name/);
    assert.throws(() => synth({ planWorkflows: [] }), /planWorkflows: name at least one workflow file/);
  });
});

describe('PlanRole trust', () => {
  for (const repo of [LEGACY, IMMUTABLE]) {
    test(`${repo}: preview.yml's pull_request jobs, any pull request number, and nothing else`, () => {
      for (const n of ['1', '4711']) {
        assert.ok(trusts(json, planRole, params(repo), customised(repo, 'pull_request', `refs/pull/${n}/merge`, 'preview.yml')));
      }
      for (const sub of [
        `repo:${repo}:pull_request`,
        customised(repo, 'pull_request', 'refs/pull/1/merge', 'deploy.yml'),
        customised(repo, 'ref:refs/heads/main', 'refs/heads/main', 'preview.yml'),
        customised(repo, 'environment:production', 'refs/heads/main', 'deploy.yml'),
        customised(repo === LEGACY ? IMMUTABLE : LEGACY, 'pull_request', 'refs/pull/1/merge', 'preview.yml'),
      ]) {
        assert.equal(trusts(json, planRole, params(repo), sub), false, sub);
      }
    });
  }
});

describe('GitHubRepository parameter', () => {
  const pattern = new RegExp(json.Parameters?.GitHubRepository?.AllowedPattern as string);
  test('takes the repository in either form GitHub writes it in the subject', () => {
    for (const ok of ['octo-org/spa-ecs', 'octo-org@123456/spa-ecs@456789', 'a/b.c_d-e', 'a-b@1/c.d@22']) assert.match(ok, pattern);
  });
  test('refuses anything else (half an immutable form, a subject, a URL)', () => {
    for (const bad of ['octo-org@123456/spa-ecs', 'octo-org/spa-ecs@456789', 'octo-org@x/spa-ecs@1', 'octo-org/spa-ecs:ref:refs/heads/main',
      'https://github.com/octo-org/spa-ecs', 'octo-org', 'octo-org/spa-ecs/x', 'octo-org/*']) {
      assert.doesNotMatch(bad, pattern);
    }
  });
});
