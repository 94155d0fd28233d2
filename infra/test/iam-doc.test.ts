// docs/iam.md is the roles' policies as this stack deploys them: regenerated from the synthesized
// template and compared (UPDATE_DOCS=1 npm test rewrites it after a reviewed change).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { EXAMPLE, renderIamDoc, rolePolicies, type Template } from '../lib/iam-doc';
import { synth } from './helpers';

const DOC = path.resolve(__dirname, '..', '..', 'docs', 'iam.md');

describe('docs/iam.md', () => {
  const { json } = synth({ account: EXAMPLE.account, region: EXAMPLE.region });
  const template = json as unknown as Template;

  test('is what the synthesized stack deploys (UPDATE_DOCS=1 to rewrite it)', () => {
    const text = renderIamDoc(template);
    if (process.env.UPDATE_DOCS === '1' && process.env.CI !== 'true') fs.writeFileSync(DOC, text);
    assert.equal(fs.readFileSync(DOC, 'utf8'), text, 'docs/iam.md differs from the stack: run UPDATE_DOCS=1 npm test in infra/');
  });

  test('every statement of both roles is in it, with every action, and no intrinsic is left', () => {
    for (const role of ['DeployRole', 'PlanRole']) {
      const { trust, permissions } = rolePolicies(template, role);
      const text = JSON.stringify([trust, permissions]);
      assert.doesNotMatch(text, /"(Ref|Fn::[A-Za-z]+)"/, `${role}: an unevaluated intrinsic`);
      assert.doesNotMatch(text, /123456789012/, `${role}: the synth's default account leaked in`);
      const statements = (permissions as { Statement: { Sid: string; Action: string | string[] }[] }).Statement;
      assert.ok(statements.length >= 9, `${role}: ${statements.length} statements`);
      const doc = fs.readFileSync(DOC, 'utf8');
      for (const s of statements) {
        assert.ok(doc.includes(`"Sid": "${s.Sid}"`), `${role} statement ${s.Sid} not in docs/iam.md`);
        for (const a of [s.Action].flat()) assert.ok(doc.includes(`"${a}"`), `${role}: ${a} not in docs/iam.md`);
      }
    }
  });

  test('the trust names the example repository in the customised subject form', () => {
    const { trust } = rolePolicies(template, 'DeployRole');
    const subs = JSON.stringify(trust);
    assert.match(subs, /repo:OWNER\/REPO:environment:production:ref:refs\/heads\/main:job_workflow_ref:OWNER\/REPO\/\.github\/workflows\/deploy\.yml@refs\/heads\/main/);
  });
});
