// The OIDC subjects GitHub gives this repository's jobs, as CloudFormation strings the roles trust.
//
// GitHub's OpenID Connect reference (docs.github.com/en/actions/reference/security/oidc):
// - "Example subject claims": the default `sub` is `repo:OWNER/REPO:<context>`, the context being
//   `environment:NAME` when the job has an environment, else `pull_request` for a pull_request
//   event, else `ref:refs/heads/BRANCH` (or `ref:refs/tags/TAG`).
// - "Immutable subject claims": repositories created (or renamed, or transferred) after 15 July 2026,
//   and those that opt in, get `repo:OWNER@OWNER_ID/REPO@REPO_ID:…`; the IDs stay in the `repo`
//   segment of a customised subject too.
// - "Customizing the subject claims for an organization or repository": with
//   `include_claim_keys` the whole `sub` becomes the listed claims in order, each `KEY:VALUE`,
//   `repo` as `repo:OWNER/REPO`, `context` as the default's context part; any `:` inside a value
//   is written `%3A`. The customisation applies to every workflow of the repository.
//
// The default subject of a job with an environment names no branch, and an environment a workflow
// mentions is created without protection rules, while workflow_dispatch runs the workflow file of
// whichever ref the person picks: trusting `environment:production` alone lets any branch's edited
// workflow assume the deploy role. So the repository customises its subject with
// infra/github-oidc-sub.json (docs/security.md, "Setup"), which adds `ref` and `job_workflow_ref`, and every
// role trusts exactly the customised subjects of the jobs that use it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Fn } from 'aws-cdk-lib';

/** The body of `PUT /repos/{owner}/{repo}/actions/oidc/customization/sub` the setup of docs/security.md sends. */
export const SUBJECT_TEMPLATE_PATH = path.resolve(__dirname, '..', 'github-oidc-sub.json');

/** Claim keys whose value the stack knows for each job (the subject is built from them). */
const SUPPORTED_KEYS = ['repo', 'context', 'ref', 'job_workflow_ref'] as const;
type Key = (typeof SUPPORTED_KEYS)[number];

/** The `include_claim_keys` of the repository's subject customisation, checked. */
export function loadSubjectTemplate(file: string = SUBJECT_TEMPLATE_PATH): Key[] {
  const where = path.relative(process.cwd(), file) || file;
  let body: unknown;
  try {
    body = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${where}: cannot read the OIDC subject template: ${(e as Error).message}`, { cause: e });
  }
  const b = body as { use_default?: unknown; include_claim_keys?: unknown };
  if (b.use_default !== false) throw new Error(`${where}: use_default must be false (the customised subject is what the roles trust)`);
  const keys = b.include_claim_keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new Error(`${where}: include_claim_keys must be a list of claim names`);
  const unknown = keys.filter((k) => !(SUPPORTED_KEYS as readonly string[]).includes(k));
  if (unknown.length) throw new Error(`${where}: include_claim_keys ${unknown.join(', ')}: the stack can build subjects of ${SUPPORTED_KEYS.join(', ')} only`);
  for (const need of ['repo', 'context', 'ref'] as const) {
    // repo: which repository; context: the environment (or pull_request); ref: binds the deploy
    // role to the default branch (the default subject of an environment job names no branch).
    if (!keys.includes(need)) throw new Error(`${where}: include_claim_keys must contain ${need}`);
  }
  if (new Set(keys).size !== keys.length) throw new Error(`${where}: include_claim_keys lists a key twice`);
  return keys as Key[];
}

/** What one job presents: each claim the subject may carry (CloudFormation tokens allowed). */
export interface JobClaims {
  /** `OWNER/REPO` or `OWNER@OWNER_ID/REPO@REPO_ID`: the repository as GitHub writes it in `sub`. */
  readonly repo: string;
  /** `environment:NAME`, `pull_request` or `ref:REF`. */
  readonly context: string;
  readonly ref: string;
  readonly jobWorkflowRef: string;
}

/** The customised `sub` of a job: the template's claims in order, `KEY:VALUE` joined by `:`. */
export function subject(keys: readonly Key[], claims: JobClaims): string {
  const parts: string[] = [];
  keys.forEach((key, i) => {
    if (i > 0) parts.push(':');
    switch (key) {
      case 'repo':
        parts.push('repo:', claims.repo);
        break;
      case 'context':
        parts.push(claims.context);
        break;
      case 'ref':
        parts.push('ref:', claims.ref);
        break;
      case 'job_workflow_ref':
        parts.push('job_workflow_ref:', claims.jobWorkflowRef);
        break;
    }
  });
  return Fn.join('', parts);
}

/**
 * `OWNER/REPO` from the repository as the subject writes it (either form): the name form the
 * `job_workflow_ref` claim uses (it carries no IDs).
 */
export function repositoryNames(repo: string): string {
  const name = (i: number): string => Fn.select(0, Fn.split('@', Fn.select(i, Fn.split('/', repo))));
  return Fn.join('/', [name(0), name(1)]);
}

/** A workflow file name the roles name in `job_workflow_ref` (`.github/workflows/<name>`). */
export function checkWorkflowFiles(what: string, files: readonly string[]): void {
  if (files.length === 0) throw new Error(`${what}: name at least one workflow file`);
  for (const f of files) {
    if (!/^[A-Za-z0-9_.-]+\.ya?ml$/.test(f)) throw new Error(`${what}: ${JSON.stringify(f)} is not a workflow file name (.github/workflows/<name>.yml)`);
  }
}
