import { fileURLToPath } from 'node:url'
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

const migrationsDir = fileURLToPath(new URL('./migrations', import.meta.url))

/**
 * Two projects: `worker` runs the Worker and its bindings in workerd (miniflare), `node` runs
 * the plain-TypeScript engine, the CLI and the end-to-end tests that drive `wrangler dev`
 * over real HTTP.
 */
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest(async () => ({
            main: './src/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations(migrationsDir),
                // Test-only secrets: the real ones come from .dev.vars or `wrangler secret`.
                EDGE_ADMIN_SECRET: 'dGVzdC1hZG1pbi1zZWNyZXQtZm9yLXZpdGVzdC1vbmx5IQ==',
                EDGE_ENCRYPTION_KEY: 'MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=',
                PUBLIC_URL: 'http://edge.test',
                ALLOW_PRIVATE_TARGETS: 'true',
                LOG_LEVEL: 'warn',
                // Webhook retries come at once instead of after 10 s, 30 s, ... (docs/webhooks.md).
                EVENT_BACKOFF_SCALE: '0',
              },
              // The pool's queueConsumers replace wrangler.toml's: repeat retries and DLQs here
              // or the dead-letter queues silently vanish in tests (STACK.md).
              queueConsumers: {
                'rockit-tasks': {
                  maxBatchSize: 1,
                  maxBatchTimeout: 1,
                  maxRetries: 5,
                  deadLetterQueue: 'rockit-tasks-dlq',
                },
                'rockit-events': {
                  maxBatchSize: 10,
                  maxBatchTimeout: 1,
                  // Test-only: 5 retries (production: 100) so a delivery becomes a dead letter
                  // in seconds; each retry still waits for the 1 s batch timeout.
                  maxRetries: 5,
                  deadLetterQueue: 'rockit-events-dlq',
                },
                'rockit-tasks-dlq': { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 3 },
                'rockit-events-dlq': { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 3 },
              },
            },
          })),
        ],
        test: {
          name: 'worker',
          include: ['test/worker/**/*.test.ts'],
          // Many tests drive real queues, tasks and loopback servers; on a loaded 2-core machine a
          // few take well over vitest's default 5 s. Waits inside tests keep their own deadlines.
          testTimeout: 30_000,
          setupFiles: ['./test/worker/setup.ts'],
          globalSetup: [
            './test/worker/webhook-global-setup.ts',
            './test/worker/origins-global-setup.ts',
            './test/worker/build-server-global-setup.ts',
          ],
        },
      },
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/node/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
})
