import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../../bin/traceledger', import.meta.url));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('bin/traceledger on a fresh clone', () => {
  it('says to run npm ci, and exits 2, when the npm packages are not installed', async () => {
    // A checkout with the script and no node_modules.
    const clone = await mkdtemp(join(tmpdir(), 'tl-fresh-clone-'));
    dirs.push(clone);
    await mkdir(join(clone, 'bin'));
    await copyFile(bin, join(clone, 'bin/traceledger'));
    const failure = await promisify(execFile)(join(clone, 'bin/traceledger'), ['keys', 'list'], { timeout: 15_000 }).then(
      () => null,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('run `npm ci`');
    expect(failure?.stderr).not.toMatch(/at .*\(node:/);
  });
});
