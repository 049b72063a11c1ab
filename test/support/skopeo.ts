import { type RunResult, run, runOk } from './tools.js';

const TIMEOUT = 120_000;

/** Credentials come only from the flags: no auth.json or docker config of the machine is read. */
const HERMETIC_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  REGISTRY_AUTH_FILE: '/nonexistent/wharf-test/auth.json',
  DOCKER_CONFIG: '/nonexistent/wharf-test/docker',
};

/** Runs skopeo, never throwing on a non-zero exit. */
export function skopeo(args: string[]): Promise<RunResult> {
  return run('skopeo', args, { timeoutMs: TIMEOUT, env: HERMETIC_ENV });
}

/** Runs skopeo and returns its stdout; throws with stderr on failure. */
export async function skopeoOk(args: string[]): Promise<string> {
  return (await runOk('skopeo', args, { timeoutMs: TIMEOUT, env: HERMETIC_ENV })).stdout;
}
