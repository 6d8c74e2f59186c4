/** Versions reported by `GET /srv/v1/versions`; keep `service` equal to package.json and CHANGELOG.md. */
export const versions = {
  service: '0.1.0',
  schema: '0003_traces_app_build',
  imageFormat: 'dxf/1',
  traceFormat: 'rockit-trace/1',
  api: 'v1',
} as const
