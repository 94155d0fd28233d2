// The service's deployment strategy (lib/strategy.ts): AWS's support matrix, the settings' checks,
// and, per strategy, the resources ECS needs to shift traffic, the alarms that roll a deployment
// back, the deploy role's one extra read, and a committed template snapshot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { buildApp } from '../lib/app';
import { ALARM_5XX_PERCENT, ALARM_P99_LATENCY_SECONDS, ORIGIN_VERIFY_HEADER, TEST_TRAFFIC_HEADER } from '../lib/spa-ecs-stack';
import {
  ALB_RESOURCES_DOC,
  resolveStrategy,
  STACK_SHAPE,
  STRATEGIES,
  STRATEGY_DOCS,
  type StrategyName,
  unsupportedReason,
} from '../lib/strategy';
import { actions, defaultStack, logicalIds, normalise, only, roleIdFor, roleStatements, synth, type Synthesized, type TemplateJson } from './helpers';

const ref = (id: string) => ({ Ref: id });

describe('AWS support matrix (lib/strategy.ts)', () => {
  test('this stack\'s shape (ECS on EC2 with a capacity provider, bridge networking, an ALB) supports every strategy', () => {
    for (const s of STRATEGIES) assert.equal(unsupportedReason(s, STACK_SHAPE), undefined, s);
  });

  test('a shape AWS does not support is refused with the reason and the page that says so', () => {
    const headless = { ...STACK_SHAPE, traffic: 'NONE' as const, productionRuleActions: undefined };
    assert.match(unsupportedReason('LINEAR', headless) ?? '', /needs Elastic Load Balancing or Service Connect/);
    assert.ok(unsupportedReason('LINEAR', headless)?.includes(STRATEGY_DOCS.LINEAR));
    assert.ok(unsupportedReason('CANARY', headless)?.includes(STRATEGY_DOCS.CANARY));
    assert.match(unsupportedReason('BLUE_GREEN', headless) ?? '', /ECS would not move any traffic/);
    assert.equal(unsupportedReason('ROLLING', headless), undefined);
    const codeDeploy = { ...STACK_SHAPE, deploymentController: 'CODE_DEPLOY' as const };
    assert.match(unsupportedReason('BLUE_GREEN', codeDeploy) ?? '', /needs the ECS deployment controller; this service uses CODE_DEPLOY/);
    const mixedRule = { ...STACK_SHAPE, productionRuleActions: ['authenticate-oidc', 'forward'] };
    const reason = unsupportedReason('CANARY', mixedRule) ?? '';
    assert.match(reason, /forward actions only; this one also has authenticate-oidc/);
    assert.ok(reason.includes(ALB_RESOURCES_DOC));
    for (const shape of [{ ...STACK_SHAPE, traffic: 'NLB' as const }, { ...STACK_SHAPE, traffic: 'SERVICE_CONNECT' as const }]) {
      for (const s of STRATEGIES) assert.equal(unsupportedReason(s, shape), undefined, `${s} ${shape.traffic}`);
    }
    // the stack refuses such a shape when asked for the strategy
    assert.throws(() => resolveStrategy({ strategy: 'LINEAR' }, headless), /strategy LINEAR is not supported for this service: .*linear-deployment-implementation/);
  });

  test('settings: defaults, ranges, and options a strategy has no use for', () => {
    assert.deepEqual(resolveStrategy({}), { name: 'ROLLING' });
    assert.deepEqual(resolveStrategy({ strategy: 'BLUE_GREEN' }), { name: 'BLUE_GREEN', bakeTimeMinutes: 5 });
    assert.deepEqual(resolveStrategy({ strategy: 'LINEAR' }), { name: 'LINEAR', bakeTimeMinutes: 5, stepPercent: 10, stepBakeTimeMinutes: 6 });
    assert.deepEqual(resolveStrategy({ strategy: 'CANARY', stepPercent: 0.1, bakeTimeMinutes: 0 }), {
      name: 'CANARY',
      bakeTimeMinutes: 0,
      stepPercent: 0.1,
      stepBakeTimeMinutes: 10,
    });
    assert.throws(() => resolveStrategy({ strategy: 'blue_green' }), /strategy "blue_green": expected one of ROLLING, BLUE_GREEN, LINEAR, CANARY/);
    assert.throws(() => resolveStrategy({ strategy: 'ROLLING', bakeTimeMinutes: 5 }), /bakeTimeMinutes: only with strategy BLUE_GREEN, LINEAR or CANARY/);
    assert.throws(() => resolveStrategy({ strategy: 'BLUE_GREEN', stepPercent: 10 }), /stepPercent: only with strategy LINEAR or CANARY/);
    assert.throws(() => resolveStrategy({ strategy: 'LINEAR', stepPercent: 2.9 }), /stepPercent 2.9: for LINEAR, a multiple of 0.1 from 3 to 100/);
    assert.throws(() => resolveStrategy({ strategy: 'CANARY', stepPercent: 5.05 }), /multiple of 0.1/);
    assert.throws(() => resolveStrategy({ strategy: 'LINEAR', stepBakeTimeMinutes: 1441 }), /stepBakeTimeMinutes 1441: whole minutes from 0 to 1440/);
    assert.throws(() => resolveStrategy({ strategy: 'BLUE_GREEN', bakeTimeMinutes: 1.5 }), /bakeTimeMinutes 1.5/);
    // through the app, as `-c strategy=…` reaches it
    assert.throws(() => buildApp({ nag: false, deploymentStrategy: { strategy: 'CODE_DEPLOY' } }), /expected one of/);
  });
});

describe('the context keys, as `cdk deploy -c …` and scripts/deploy-local pass them (bin/synth.ts)', () => {
  const synthCli = (...context: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'bin', 'synth.ts'), '--out', fs.mkdtempSync(path.join(os.tmpdir(), 'strategy-cli-')), ...context.flatMap((c) => ['-c', c])], {
      encoding: 'utf8',
      cwd: path.join(__dirname, '..'),
    });

  test('-c strategy=LINEAR -c stepPercent=20 -c stepBakeTimeMinutes=3 -c bakeTimeMinutes=0 reach the service', () => {
    const r = synthCli('strategy=LINEAR', 'stepPercent=20', 'stepBakeTimeMinutes=3', 'bakeTimeMinutes=0');
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(fs.readFileSync(r.stdout.trim(), 'utf8')) as TemplateJson;
    const config = service(json).DeploymentConfiguration;
    assert.deepEqual([config.Strategy, config.BakeTimeInMinutes, config.LinearConfiguration], ['LINEAR', 0, { StepPercent: 20, StepBakeTimeInMinutes: 3 }]);
  });

  test('a value that is not a number, or a strategy AWS does not have, stops the synth naming the key', () => {
    const bad = synthCli('strategy=CANARY', 'stepPercent=five');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /context stepPercent: expected a number, got "five"/);
    const unknown = synthCli('strategy=RED_BLACK');
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /strategy "RED_BLACK": expected one of ROLLING, BLUE_GREEN, LINEAR, CANARY/);
  });
});

const stacks = new Map<StrategyName, Synthesized>();
function stackFor(name: StrategyName): Synthesized {
  if (name === 'ROLLING') return defaultStack();
  let s = stacks.get(name);
  if (!s) {
    s = synth({ deploymentStrategy: { strategy: name } });
    stacks.set(name, s);
  }
  return s;
}

function service(json: TemplateJson): Record<string, any> {
  return only(json, 'AWS::ECS::Service')[1].Properties ?? {};
}

describe('ROLLING (the default) is the stack as it was', () => {
  test('one target group behind a forward rule, no strategy keys, no alarm, no infrastructure role, no alarm read', () => {
    const { json, stack } = stackFor('ROLLING');
    const config = service(json).DeploymentConfiguration;
    for (const key of ['Strategy', 'BakeTimeInMinutes', 'LinearConfiguration', 'CanaryConfiguration']) assert.equal(config[key], undefined, key);
    assert.deepEqual(config.Alarms, { AlarmNames: [], Enable: false, Rollback: false });
    assert.equal(logicalIds(json, 'AWS::ElasticLoadBalancingV2::TargetGroup').length, 1);
    assert.equal(logicalIds(json, 'AWS::CloudWatch::Alarm').length, 0);
    assert.equal(service(json).LoadBalancers[0].AdvancedConfiguration, undefined);
    const deploy = roleStatements(json, roleIdFor(json, stack, 'DeployRole'));
    assert.ok(!deploy.some((s) => actions(s).some((a) => a.startsWith('cloudwatch:'))));
  });
});

for (const name of ['BLUE_GREEN', 'LINEAR', 'CANARY'] as const) {
  describe(`${name}`, () => {
    test('the service: strategy, bake time, steps, alarms with rollback, and the alternate target ECS shifts traffic to', () => {
      const { json } = stackFor(name);
      const groups = logicalIds(json, 'AWS::ElasticLoadBalancingV2::TargetGroup');
      assert.equal(groups.length, 2);
      const [primary] = groups.filter((g) => !g.includes('Alternate'));
      const [alternate] = groups.filter((g) => g.includes('Alternate'));
      // the primary group keeps the id ROLLING gives it: switching strategy keeps the live target group
      assert.deepEqual(groups.filter((g) => !g.includes('Alternate')), logicalIds(stackFor('ROLLING').json, 'AWS::ElasticLoadBalancingV2::TargetGroup'));
      const rules = Object.fromEntries(
        logicalIds(json, 'AWS::ElasticLoadBalancingV2::ListenerRule').map((id) => [json.Resources[id].Properties?.Priority as number, id]),
      );
      assert.deepEqual(Object.keys(rules).map(Number).sort((a, b) => a - b), [5, 10]);
      const [alarm5xx] = logicalIds(json, 'AWS::CloudWatch::Alarm').filter((a) => a.includes('5xx'));
      const [alarmLatency] = logicalIds(json, 'AWS::CloudWatch::Alarm').filter((a) => a.includes('Latency'));
      const [role] = logicalIds(json, 'AWS::IAM::Role').filter((r) => r.startsWith('EcsInfrastructureRole'));
      const props = service(json);
      const expected: Record<string, unknown> = {
        Strategy: name,
        BakeTimeInMinutes: 5,
        Alarms: { AlarmNames: [ref(alarm5xx), ref(alarmLatency)], Enable: true, Rollback: true },
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MaximumPercent: 200,
        MinimumHealthyPercent: 100,
      };
      if (name === 'LINEAR') expected.LinearConfiguration = { StepPercent: 10, StepBakeTimeInMinutes: 6 };
      if (name === 'CANARY') expected.CanaryConfiguration = { CanaryPercent: 5, CanaryBakeTimeInMinutes: 10 };
      assert.deepEqual(props.DeploymentConfiguration, expected);
      assert.deepEqual(props.DeploymentController, { Type: 'ECS' });
      assert.deepEqual(props.LoadBalancers, [
        {
          ContainerName: 'api',
          ContainerPort: 3000,
          TargetGroupArn: ref(primary),
          AdvancedConfiguration: {
            AlternateTargetGroupArn: ref(alternate),
            ProductionListenerRule: ref(rules[10]),
            TestListenerRule: ref(rules[5]),
            RoleArn: { 'Fn::GetAtt': [role, 'Arn'] },
          },
        },
      ]);
      // both groups alike: instance targets (bridge networking), the same health check and drain
      const tg = (id: string) => json.Resources[id].Properties ?? {};
      for (const key of ['TargetType', 'Port', 'Protocol', 'HealthCheckPath', 'HealthCheckIntervalSeconds', 'HealthyThresholdCount', 'UnhealthyThresholdCount', 'TargetGroupAttributes']) {
        assert.deepEqual(tg(alternate)[key], tg(primary)[key], key);
      }
      assert.equal(tg(primary).TargetType, 'instance');
    });

    test('production rule: the origin secret, weighted forward 100/0; test rule: the origin secret twice (the test header too), ahead of it', () => {
      const { json } = stackFor(name);
      const groups = logicalIds(json, 'AWS::ElasticLoadBalancingV2::TargetGroup');
      const [primary] = groups.filter((g) => !g.includes('Alternate'));
      const [alternate] = groups.filter((g) => g.includes('Alternate'));
      const weighted = [
        {
          Type: 'forward',
          ForwardConfig: { TargetGroups: [{ TargetGroupArn: ref(primary), Weight: 100 }, { TargetGroupArn: ref(alternate), Weight: 0 }] },
        },
      ];
      const header = (n: string) => ({ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: n, Values: [ref('OriginVerifySecret')] } });
      const rules = logicalIds(json, 'AWS::ElasticLoadBalancingV2::ListenerRule').map((id) => json.Resources[id].Properties ?? {});
      const production = rules.find((r) => r.Priority === 10) ?? {};
      const testRule = rules.find((r) => r.Priority === 5) ?? {};
      assert.deepEqual(production.Actions, weighted);
      assert.deepEqual(production.Conditions, [header(ORIGIN_VERIFY_HEADER)]);
      assert.deepEqual(testRule.Actions, weighted);
      assert.deepEqual(testRule.Conditions, [header(ORIGIN_VERIFY_HEADER), header(TEST_TRAFFIC_HEADER)]);
      // no non-forward action in either rule (AWS refuses a mix: lib/strategy.ts)
      for (const r of rules) assert.deepEqual((r.Actions as { Type: string }[]).map((a) => a.Type), ['forward']);
    });

    test('the infrastructure role: trusted by ecs.amazonaws.com alone, AWS\'s load-balancer policy, nothing else', () => {
      const { json } = stackFor(name);
      const [id] = logicalIds(json, 'AWS::IAM::Role').filter((r) => r.startsWith('EcsInfrastructureRole'));
      const p = json.Resources[id].Properties ?? {};
      assert.deepEqual(p.AssumeRolePolicyDocument, {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ecs.amazonaws.com' } }],
        Version: '2012-10-17',
      });
      assert.deepEqual(p.ManagedPolicyArns, [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers']] },
      ]);
      assert.deepEqual(roleStatements(json, id), [], 'no inline policy');
    });

    test(`alarms: 5xx share > ${ALARM_5XX_PERCENT} % and p99 latency > ${ALARM_P99_LATENCY_SECONDS} s, each the worse of both target groups, 2 of 2 minutes`, () => {
      const { json } = stackFor(name);
      const groups = logicalIds(json, 'AWS::ElasticLoadBalancingV2::TargetGroup').sort();
      const alarms = logicalIds(json, 'AWS::CloudWatch::Alarm').map((id) => json.Resources[id].Properties ?? {});
      assert.deepEqual(alarms.map((a) => a.AlarmName).sort(), ['spa-ecs-api-target-5xx-rate', 'spa-ecs-api-target-p99-latency']);
      for (const a of alarms) {
        assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
        assert.deepEqual([a.EvaluationPeriods, a.DatapointsToAlarm, a.TreatMissingData], [2, 2, 'notBreaching']);
        const metrics = a.Metrics as { Id: string; Expression?: string; MetricStat?: { Metric: any; Period: number; Stat: string } }[];
        const stats = metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat!);
        const tgs = stats.map((m) => m.Metric.Dimensions.find((d: any) => d.Name === 'TargetGroup').Value['Fn::GetAtt'][0]);
        assert.deepEqual([...new Set(tgs)].sort(), groups, 'both target groups');
        for (const m of stats) assert.equal(m.Period, 60);
        const expression = metrics.find((m) => m.Expression)?.Expression ?? '';
        if (a.AlarmName === 'spa-ecs-api-target-5xx-rate') {
          assert.equal(a.Threshold, ALARM_5XX_PERCENT);
          assert.deepEqual(stats.map((m) => `${m.Metric.MetricName}/${m.Stat}`).sort(), [
            'HTTPCode_Target_5XX_Count/Sum',
            'HTTPCode_Target_5XX_Count/Sum',
            'RequestCount/Sum',
            'RequestCount/Sum',
          ]);
          assert.equal(expression, 'MAX([100 * FILL(ea, 0) / FILL(ra, 1), 100 * FILL(eb, 0) / FILL(rb, 1)])');
        } else {
          assert.equal(a.Threshold, ALARM_P99_LATENCY_SECONDS);
          assert.deepEqual(stats.map((m) => `${m.Metric.MetricName}/${m.Stat}`), ['TargetResponseTime/p99', 'TargetResponseTime/p99']);
          assert.equal(expression, 'MAX([la, lb])');
        }
      }
    });

    test('the deploy role gains exactly cloudwatch:DescribeAlarms on these two alarms, and may pass no role but the task\'s to ecs-tasks', () => {
      const { json, stack } = stackFor(name);
      const base = roleStatements(defaultStack().json, roleIdFor(defaultStack().json, defaultStack().stack, 'DeployRole'));
      const deploy = roleStatements(json, roleIdFor(json, stack, 'DeployRole'));
      const added = deploy.filter((s) => !base.some((b) => JSON.stringify(b) === JSON.stringify(s)));
      const alarms = logicalIds(json, 'AWS::CloudWatch::Alarm');
      assert.equal(added.length, 1);
      const { Resource, ...rest } = added[0];
      assert.deepEqual(rest, { Action: 'cloudwatch:DescribeAlarms', Effect: 'Allow', Sid: 'DeploymentAlarms' });
      const arn = (a: string) => JSON.stringify({ 'Fn::GetAtt': [a, 'Arn'] });
      assert.deepEqual((Resource as unknown[]).map((r) => JSON.stringify(r)).sort(), alarms.map(arn).sort());
      assert.equal(deploy.length, base.length + 1, 'nothing removed or changed');
      // deckhand's UpdateService names only the task definition: the infrastructure role is never passed
      const passRole = deploy.filter((s) => actions(s).includes('iam:PassRole'));
      assert.equal(passRole.length, 1);
      assert.doesNotMatch(JSON.stringify(passRole[0].Resource), /EcsInfrastructureRole/);
      assert.deepEqual(passRole[0].Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
      // the plan role reads nothing more
      const plan = (s: Synthesized) => roleStatements(s.json, roleIdFor(s.json, s.stack, 'PlanRole'));
      assert.deepEqual(plan(stackFor(name)), plan(defaultStack()));
    });

    test('the deploy role grants every action its recorded BLUE_GREEN run called (stage 55: role-actions.json DeployRole:BLUE_GREEN); beyond the rolling runs, that is DescribeAlarms alone', () => {
      const recorded = JSON.parse(fs.readFileSync(path.join(__dirname, 'role-actions.json'), 'utf8')) as Record<string, string[]>;
      const run = recorded['DeployRole:BLUE_GREEN'] ?? [];
      assert.ok(run.length > 0, 'no recorded BLUE_GREEN run: stage 55 (dev/roles) records it');
      const { json, stack } = stackFor(name);
      const have = new Set(roleStatements(json, roleIdFor(json, stack, 'DeployRole')).flatMap(actions));
      assert.deepEqual(run.filter((a) => !have.has(a)), [], 'called but not granted');
      assert.deepEqual(run.filter((a) => !(recorded.DeployRole ?? []).includes(a)), ['cloudwatch:DescribeAlarms']);
    });

    test('matches its committed snapshot (UPDATE_SNAPSHOTS=1 to accept a reviewed change)', () => {
      const file = path.join(__dirname, '__snapshots__', `spa-ecs.${name.toLowerCase().replace('_', '-')}.template.json`);
      const actual = `${JSON.stringify(normalise(stackFor(name).json), null, 1)}\n`;
      if (process.env.UPDATE_SNAPSHOTS === '1' && process.env.CI !== 'true') fs.writeFileSync(file, actual);
      assert.ok(fs.existsSync(file), `no snapshot at ${file}: run UPDATE_SNAPSHOTS=1 npm test`);
      assert.deepEqual(JSON.parse(actual), JSON.parse(fs.readFileSync(file, 'utf8')));
    });
  });
}
