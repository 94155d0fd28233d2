// Offline, deterministic synth without the CDK CLI: `tsx bin/synth.ts [--out DIR] [-c key=value]... [--then …]`.
// Prints the path of the synthesized template on stdout. cdk-nag runs as a validation plugin: any
// unacknowledged finding fails the synth.
import * as path from 'node:path';
import { buildApp, INFRA_ROOT } from '../lib/app';
import { contextNumber } from '../lib/strategy';

// Several synths in one process (`--out A -c … --then --out B -c strategy=LINEAR …`): each group of
// arguments is one app, synthesized in order, its template path printed on a line of its own. Loading
// aws-cdk-lib and cdk-nag is most of a synth's time (seconds of CPU): stage 50 synthesizes four
// templates through one load.
const groups: string[][] = [[]];
for (const a of process.argv.slice(2)) {
  if (a === '--then') groups.push([]);
  else groups[groups.length - 1].push(a);
}
for (const args of groups) {
  process.stdout.write(`${synthOne(args)}\n`);
}

function synthOne(args: string[]): string {
  let outdir = path.join(INFRA_ROOT, 'cdk.out');
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--out') {
      outdir = path.resolve(args[++i] ?? '');
    } else if (a === '-c' || a === '--context') {
      const kv = args[++i] ?? '';
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`${a} ${kv}: expected key=value`);
      context[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else {
      throw new Error(`unknown argument ${a}: usage: synth [--out DIR] [-c key=value]... [--then [--out DIR] [-c key=value]...]...`);
    }
  }
  const { app, stack } = buildApp({
    outdir,
    appName: context.app,
    environment: context.env,
    account: context.account,
    region: context.region,
    availabilityZones: context.azs?.split(','),
    githubOidcProviderArn: context.githubOidcProviderArn,
    deployWorkflows: context.deployWorkflows?.split(','),
    planWorkflows: context.planWorkflows?.split(','),
    synthesizer: context.synthesizer,
    templateBucket: context.templateBucket,
    deploymentStrategy: {
      strategy: context.strategy,
      bakeTimeMinutes: contextNumber('bakeTimeMinutes', context.bakeTimeMinutes),
      stepPercent: contextNumber('stepPercent', context.stepPercent),
      stepBakeTimeMinutes: contextNumber('stepBakeTimeMinutes', context.stepBakeTimeMinutes),
    },
    promoteFrom: context.promoteFrom,
    promoteFromAccount: context.promoteFromAccount,
    promoteToRoleArn: context.promoteToRoleArn,
  });
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stack.stackName);
  return path.join(assembly.directory, artifact.templateFile);
}
