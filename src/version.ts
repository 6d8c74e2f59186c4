/** Versions reported by `GET /srv/v1/versions`; keep `service` equal to package.json and CHANGELOG.md. */
export const versions = {
  service: '0.1.0',
  schema: '0002_training_run_method',
  imageFormat: 'dxf/1',
  traceFormat: 'rockit-trace/1',
  api: 'v1',
} as const
