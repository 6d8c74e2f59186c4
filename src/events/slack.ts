/**
 * The body sent to a Slack target: Slack incoming webhooks take `{"text": "..."}` and show it as a
 * message, so the event is summarised in one readable line instead of the JSON event. Slack calls
 * are not signed (Slack ignores the header; the webhook URL itself is the credential).
 */
import type { TaskEvent } from './emit'

const happened: Record<TaskEvent['event'], string> = {
  submit: 'was submitted',
  begin: 'started',
  end: 'finished',
  error: 'failed',
}

const marker: Record<TaskEvent['event'], string> = {
  submit: ':inbox_tray:',
  begin: ':arrow_forward:',
  end: ':white_check_mark:',
  error: ':x:',
}

/** Slack treats `&`, `<` and `>` as markup; user-chosen names must not become links or mentions. */
function escapeSlack(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

function exceptionText(exception: unknown): string | null {
  if (!exception || typeof exception !== 'object') return null
  const { code, message } = exception as { code?: unknown; message?: unknown }
  const parts = [code, message].filter((part) => typeof part === 'string' && part)
  return parts.length ? parts.join(': ') : null
}

/** The Slack message for `event`: org, app, build, task, type, what happened and why it failed. */
export function slackMessage(event: TaskEvent): { text: string } {
  const where = [
    `org ${event.orgName}`,
    event.appName ? `app ${event.appName}` : null,
    event.buildName ? `build ${event.buildName}` : null,
    event.dxfName ? `image ${event.dxfName}` : null,
    event.deployment ? `deployment ${event.deployment}` : null,
  ].filter(Boolean)
  const failure = event.event === 'error' ? exceptionText(event.exception) : null
  const line =
    `${marker[event.event]} ${event.type} task ${event.taskName} ${happened[event.event]} ` +
    `(${where.join(', ')})` +
    (failure ? `: ${failure}` : '')
  return { text: escapeSlack(line) }
}
