// Types of the test env: the Worker's bindings plus the migrations the pool config provides.
import type { Env as WorkerEnv } from '../../src/env'

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: import('cloudflare:test').D1Migration[]
    }
  }
}
