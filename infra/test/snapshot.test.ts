// Template snapshot (asset hashes normalised) and offline, deterministic synth.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { buildApp, type InfraAppOptions, SPA_ROUTER_PATH } from '../lib/app';
import { defaultStack, normalise, only } from './helpers';

const SNAPSHOT = path.join(__dirname, '__snapshots__', 'spa-ecs.template.json');
describe('template', () => {
  const { json } = defaultStack();

  test('matches the committed snapshot (UPDATE_SNAPSHOTS=1 to accept a reviewed change)', () => {
    const actual = `${JSON.stringify(normalise(json), null, 1)}\n`;
    if (process.env.UPDATE_SNAPSHOTS === '1' && process.env.CI !== 'true') {
      fs.mkdirSync(path.dirname(SNAPSHOT), { recursive: true });
      fs.writeFileSync(SNAPSHOT, actual);
    }
    assert.ok(fs.existsSync(SNAPSHOT), `no snapshot at ${SNAPSHOT}: run UPDATE_SNAPSHOTS=1 npm test`);
    assert.deepEqual(JSON.parse(actual), JSON.parse(fs.readFileSync(SNAPSHOT, 'utf8')));
  });

  test('embeds infra/functions/spa-router.js byte for byte', () => {
    const [, fn] = only(json, 'AWS::CloudFront::Function');
    assert.equal(fn.Properties?.FunctionCode, fs.readFileSync(SPA_ROUTER_PATH, 'utf8'));
  });

  test('synth is deterministic, needs no context lookups, and the synthesizer only changes how `cdk deploy` deploys it', () => {
    const synthTo = (options: InfraAppOptions) => {
      const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'det-'));
      const { app, stack } = buildApp({ outdir, ...options });
      const assembly = app.synth();
      const artifact = assembly.getStackByName(stack.stackName);
      return { text: fs.readFileSync(path.join(outdir, artifact.templateFile), 'utf8'), missing: assembly.manifest.missing, artifact };
    };
    const a = synthTo({});
    const b = synthTo({ synthesizer: 'cli-credentials', templateBucket: 'my-templates' });
    assert.equal(a.missing, undefined, 'no missing context (no lookups)');
    assert.equal(createHash('sha256').update(a.text).digest('hex'), createHash('sha256').update(b.text).digest('hex'));
    // DefaultStackSynthesizer: `cdk deploy` needs the bootstrap stack although the template has no
    // asset of its own (docs/getting-started.md; the comment in lib/spa-ecs-stack.ts): the template
    // is published to the bootstrap bucket, the deploy and cfn-exec roles are the bootstrap's, and
    // the CLI checks the bootstrap version in SSM first.
    assert.match(a.artifact.assumeRoleArn ?? '', /:role\/cdk-hnb659fds-deploy-role-/);
    assert.match(a.artifact.cloudFormationExecutionRoleArn ?? '', /:role\/cdk-hnb659fds-cfn-exec-role-/);
    assert.equal(a.artifact.requiresBootstrapStackVersion, 6);
    assert.equal(a.artifact.bootstrapStackVersionSsmParameter, '/cdk-bootstrap/hnb659fds/version');
    assert.match(a.artifact.stackTemplateAssetObjectUrl ?? '', /^s3:\/\/cdk-hnb659fds-assets-/);
    assert.doesNotMatch(a.text, /CheckBootstrapVersion|BootstrapVersion/, 'no bootstrap rule in the template itself');
    // `-c synthesizer=cli-credentials -c templateBucket=B`: the CLI's own credentials, no role, no
    // version check; the template goes to the named bucket.
    assert.equal(b.artifact.assumeRoleArn, undefined);
    assert.equal(b.artifact.cloudFormationExecutionRoleArn, undefined);
    assert.equal(b.artifact.requiresBootstrapStackVersion, undefined);
    assert.match(b.artifact.stackTemplateAssetObjectUrl ?? '', /^s3:\/\/my-templates\/spa-ecs\//);
    assert.throws(() => buildApp({ synthesizer: 'legacy' }), /expected default or cli-credentials/);
    assert.throws(() => buildApp({ templateBucket: 'b' }), /only with -c synthesizer=cli-credentials/);
  });
});
