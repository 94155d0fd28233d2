// cdk-nag v3 AwsSolutionsChecks through the Validations API: zero unacknowledged findings, and every
// acknowledgement (each with a reason) matches a real finding on the construct it names.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../lib/app';
import { nagAcknowledgements } from '../lib/nag';
import { STRATEGIES } from '../lib/strategy';

function findings(acknowledge: boolean, strategy?: string): { pairs: string[]; stackName: string; count: number } {
  const { app, stack } = buildApp({
    nag: false,
    acknowledgeNag: acknowledge,
    outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'nag-')),
    deploymentStrategy: { strategy },
  });
  const report = new AwsSolutionsChecks().validateScope(app);
  const pairs = report.violations.flatMap((v) => v.violatingResources.map((r) => `${r.constructPath} ${v.ruleName}`)).sort();
  return { pairs, stackName: stack.stackName, count: pairs.length };
}

/** Run fn with stdout/stderr captured (console and direct writes); returns what was printed. */
function quietly(fn: () => void): string {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const capture = (chunk: unknown): boolean => {
    chunks.push(String(chunk));
    return true;
  };
  const saved = { log: console.log, error: console.error, warn: console.warn };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  console.log = console.error = console.warn = (...args: unknown[]) => void chunks.push(args.map(String).join(' '));
  try {
    fn();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    Object.assign(console, saved);
  }
  return chunks.join('');
}

describe('cdk-nag AwsSolutionsChecks', () => {
  test('zero unacknowledged findings, with every deployment strategy', () => {
    for (const strategy of STRATEGIES) {
      const { pairs } = findings(true, strategy);
      assert.deepEqual(pairs, [], strategy);
    }
  });

  for (const strategy of ['ROLLING', 'BLUE_GREEN']) {
    test(`every acknowledgement names a real finding on its construct, and carries a reason (${strategy})`, () => {
      acknowledgementsMatch(strategy);
    });
  }

  function acknowledgementsMatch(strategy: string): void {
    const raw = findings(false, strategy);
    const { stack } = buildApp({ nag: false, deploymentStrategy: { strategy } });
    const acks = nagAcknowledgements(stack).filter((a) => a.id.startsWith('AwsSolutions-'));
    const acked = acks.map((a) => `${raw.stackName}/${a.path} ${a.id}`).sort();
    assert.deepEqual(acked, raw.pairs, 'acknowledgements == raw findings (none stale, none missing)');
    for (const a of nagAcknowledgements(stack)) {
      assert.ok(a.reason.trim().length >= 30, `acknowledgement ${a.id} on ${a.path} needs a real reason`);
    }
    console.log(`cdk-nag (${strategy}): ${raw.count} findings, ${raw.count} acknowledged with reasons, 0 unacknowledged`);
  }

  test('a real synth runs the plugin: it passes with the acknowledgements and fails without them', () => {
    const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'synth-'));
    buildApp({ outdir: tmp() }).app.synth();
    const outdir = tmp();
    const { app } = buildApp({ outdir, acknowledgeNag: false });
    // The expected failure prints CDK's validation report: keep it out of the test log, but check it.
    const printed = quietly(() => assert.throws(() => app.synth(), /Validation failed/));
    assert.match(printed, /AwsSolutions-CFR4/);
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; conclusion: string; violations: { ruleName: string }[] }[];
    };
    const nag = report.pluginReports.find((r) => r.pluginName === 'AwsSolutions');
    assert.equal(nag?.conclusion, 'failure');
    assert.ok(nag?.violations.some((v) => v.ruleName === 'AwsSolutions-CFR4'), 'CFR4 (default certificate TLS) is a real finding');
  });

  test('the synthesized stack carries no warning or error annotations (cdk synth --strict passes), with every strategy', () => {
    for (const strategy of STRATEGIES) {
      const { app, stack } = buildApp({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'strict-')), deploymentStrategy: { strategy } });
      const messages = app.synth().getStackByName(stack.stackName).messages.filter((m) => m.level !== 'info');
      assert.deepEqual(messages.map((m) => `${m.level} ${m.id}: ${String(m.entry.data)}`), [], strategy);
    }
  });
});
