// Every test/*.test.ts in ONE process (`npm test`): each file run by `node --test` is a process of its
// own that loads aws-cdk-lib, cdk-nag and tsx and synthesizes the default stack again (seconds of CPU
// each, ~70 s of CPU for the eight files); here they load once and share helpers.ts's one default
// synth. The files are found, not listed: a new test file runs without being added here. Run one
// file alone with `node --import tsx --test test/NAME.test.ts`.
import * as fs from 'node:fs';
import * as path from 'node:path';

const dir = __dirname;
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort();
if (files.length === 0) throw new Error(`no test files in ${dir}`);
for (const f of files) {
  // require, not import(): the test files are CommonJS through tsx, and their top-level test() calls
  // register in this process's one run in file order.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(path.join(dir, f));
}
