#!/usr/bin/env bash
# Stage 50 — infra/: the CDK app of the base infrastructure.
# typecheck + lint, assertion tests (node:test via tsx, every file in one process: one per resource, security properties, the deploy
# role's exact IAM actions, TaskDefinitionRevision.LATEST proof, cdk-nag, snapshot), offline synth,
# cfn-lint + checkov (counts printed; also of the BLUE_GREEN, LINEAR and CANARY templates), then a real CreateStack into the local AWS stack, its outputs, and
# `deckhand status --stack` reading the service, bucket and distribution from them.
source "$(dirname "$0")/../lib.sh"

INFRA="$DECKHAND_ROOT/infra"
OUT="$DECKHAND_ARTIFACTS/infra"
mkdir -p "$OUT"
npm_ci "$INFRA"
cd "$INFRA"

log "infra: typecheck + lint"
npx --no-install tsc --noEmit -p .
npx --no-install eslint .

log "infra: synth (offline, cdk-nag AwsSolutionsChecks as a validation plugin): the default template and the traffic-shifting strategies' (-c strategy=…), in one process"
rm -rf "$OUT"/cdk.out*
strategies=(BLUE_GREEN LINEAR CANARY)
synth_args=(--out "$OUT/cdk.out")
for strategy in "${strategies[@]}"; do synth_args+=(--then --out "$OUT/cdk.out-$strategy" -c "strategy=$strategy"); done
synthesized="$(npx --no-install tsx bin/synth.ts "${synth_args[@]}")"
mapfile -t templates <<<"$synthesized"
[ "${#templates[@]}" = $(( 1 + ${#strategies[@]} )) ] || { printf 'bin/synth.ts printed %s templates:\n%s\n' "${#templates[@]}" "$synthesized" >&2; exit 1; }
template="${templates[0]}"
for t in "${templates[@]}"; do echo "template: $t ($(wc -c < "$t") bytes)"; done

# One cfn-lint run and one checkov run for the four templates (each tool's start-up paid once), the
# counts printed per template.
log "infra: cfn-lint + checkov (the default template and BLUE_GREEN, LINEAR, CANARY)"
scripts/check-template "${templates[@]}" | tee "$OUT/template-checks.txt"

log "infra: deploy to the local AWS stack"
local_aws_env
aws_local() { "$HOME/.cache/deckhand/venv/bin/aws" --endpoint-url "$AWS_ENDPOINT_URL" --output json "$@"; }
# A fresh environment name per run: stack, bucket, repository and SSM names never collide with an
# earlier run or with other stages' fixtures in the same moto.
env_name="ci-$(date +%s)"
stack="$(scripts/deploy-local --env "$env_name")"
outputs="$OUT/outputs.json"
aws_local cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' > "$outputs"
output() { python3 -c 'import json,sys; print({o["OutputKey"]: o["OutputValue"] for o in json.load(open(sys.argv[1]))}[sys.argv[2]])' "$outputs" "$1"; }

log "infra: the ALB security group admits only the CloudFront prefix list"
alb_sg_logical="$(python3 -c 'import json,sys
t = json.load(open(sys.argv[1]))
[i] = [r["Properties"]["GroupId"]["Fn::GetAtt"][0] for r in t["Resources"].values()
       if r["Type"] == "AWS::EC2::SecurityGroupIngress" and "SourcePrefixListId" in r["Properties"]]
print(i)' "$template")"
alb_sg="$(aws_local cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id "$alb_sg_logical" \
  --query StackResourceDetail.PhysicalResourceId --output text)"
prefix_list="$(aws_local ec2 describe-managed-prefix-lists \
  --filters Name=prefix-list-name,Values=com.amazonaws.global.cloudfront.origin-facing --query 'PrefixLists[0].PrefixListId' --output text)"
aws_local ec2 describe-security-groups --group-ids "$alb_sg" --query 'SecurityGroups[0].IpPermissions' > "$OUT/alb-sg-ingress.json"
python3 - "$OUT/alb-sg-ingress.json" "$prefix_list" <<'PY'
import json, sys
perms = json.load(open(sys.argv[1]))
got = [(p.get("IpProtocol"), p.get("FromPort"), p.get("ToPort"), [x["PrefixListId"] for x in p.get("PrefixListIds", [])],
        p.get("IpRanges", []), p.get("UserIdGroupPairs", [])) for p in perms]
want = [("tcp", 80, 80, [sys.argv[2]], [], [])]
assert got == want, f"ALB security group ingress: {got}, want {want}"
print(f"ALB security group ingress: tcp/80 from {sys.argv[2]} only")
PY

log "infra: the ALB is internal and CloudFront reaches it through its VPC origin (no origin over the internet in clear)"
aws_local cloudformation describe-stack-resources --stack-name "$stack" > "$OUT/resources.json"
alb_arn="$(python3 -c 'import json,sys; [r] = [r for r in json.load(open(sys.argv[1]))["StackResources"] if r["ResourceType"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"]; print(r["PhysicalResourceId"])' "$OUT/resources.json")"
aws_local elbv2 describe-load-balancers --load-balancer-arns "$alb_arn" --query 'LoadBalancers[0]' > "$OUT/alb.json"
aws_local cloudfront get-distribution --id "$(output DistributionId)" --query 'Distribution.DistributionConfig.Origins.Items' > "$OUT/origins.json"
python3 - "$OUT/resources.json" "$OUT/alb.json" "$OUT/origins.json" <<'PY'
import json, sys
resources = json.load(open(sys.argv[1]))["StackResources"]
alb, origins = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
assert alb["Scheme"] == "internal", f"the ALB is {alb['Scheme']}"
isolated = {r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::EC2::Subnet" and "originSubnet" in r["LogicalResourceId"]}
got = {z["SubnetId"] for z in alb["AvailabilityZones"]}
assert got == isolated and len(got) == 2, f"ALB subnets {got}, the isolated ones {isolated}"
[vpc_origin] = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::CloudFront::VpcOrigin"]
api = [o for o in origins if o.get("VpcOriginConfig")]
assert [o["VpcOriginConfig"]["VpcOriginId"] for o in api] == [vpc_origin], origins
assert api[0]["DomainName"] == alb["DNSName"], (api[0]["DomainName"], alb["DNSName"])
clear = [o["Id"] for o in origins if (o.get("CustomOriginConfig") or {}).get("OriginProtocolPolicy") not in (None, "https-only")]
assert clear == [], f"origins reached over the internet in clear: {clear}"
print(f"ALB internal in {sorted(got)}; /api/* origin: VPC origin {vpc_origin}; no custom origin over HTTP")
PY

log "infra: deckhand status --stack $stack"
bin="${DECKHAND_BIN:-$(deckhand_bin)}"
"$bin" status --stack "$stack" | tee "$OUT/status.txt"
for key in ServiceName ClusterName BucketName DistributionId; do
  value="$(output "$key")"
  grep -qF -- "$value" "$OUT/status.txt" || { echo "deckhand status --stack $stack does not show $key=$value" >&2; exit 1; }
done
echo "deckhand status shows service $(output ServiceName), bucket $(output BucketName), distribution $(output DistributionId)"

log "infra: assertion tests (every test/*.test.ts in one process: test/all.ts)"
npm test
