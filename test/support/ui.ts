// The whole server as `serve` builds it (every API route group and the web UI) for UI tests, with a
// sign-in code store the test can issue one-time links from.
import { uiRoutes } from '../../src/ui/ui-routes.ts';
import { SignInCodes } from '../../src/ui/sign-in-codes.ts';
import type { KubescribeConfig } from '../../src/config/job-definition.ts';
import type { Executor } from '../../src/executors/executor.ts';
import { startTestApi, type TestApi } from './api.ts';
import { ALL_ROUTES } from './full-api.ts';
import type { Engine } from './runlog-engines.ts';

export interface TestUi extends TestApi {
  signInCodes: SignInCodes;
}

/** The API and the UI on one app over real HTTP, on `engine`. */
export async function startTestUi(engine: Engine, options: { config?: KubescribeConfig; executor?: Executor } = {}): Promise<TestUi> {
  const signInCodes = new SignInCodes();
  const api = await startTestApi(engine, { ...options, routes: [...ALL_ROUTES, uiRoutes], deps: { signInCodes } });
  return { ...api, signInCodes };
}
