// Segment's official Node SDK (@segment/analytics-node, from npm, unchanged) sending
// one of each call to a cxflow event API, as tests/sdks/test_node_sdk.py runs it.
//
// Configuration, from the environment (or `--name=value` arguments of the same names,
// lower-case, e.g. `--url=http://localhost:8000`):
//   SDK_API_URL        the API's base URL (the SDK posts to <url>/v1/batch)
//   SDK_WRITE_KEY      a write key
//   SDK_USER_ID        the userId of the identified calls
//   SDK_ANONYMOUS_ID   the anonymousId of the calls made before the alias
//   SDK_MODE           "batch" (the SDK's defaults: up to 15 events a request) or
//                      "single" (flushAt / maxEventsInBatch 1: one request per call)
//
// Exits 0 when every call was delivered; 1 when the SDK reported an error (its 'error'
// event), a request was answered with a status >= 400, or a call was made after close.
// Prints one JSON line: what was sent and what the API answered.
import { Analytics } from '@segment/analytics-node'

function setting(name, fallback) {
  const flag = `--${name.replace(/^SDK_/, '').toLowerCase().replace(/_/g, '-')}=`
  const arg = process.argv.slice(2).find((a) => a.startsWith(flag))
  const value = arg ? arg.slice(flag.length) : process.env[name]
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback
    console.error(`node_client: ${name} is not set`)
    process.exit(2)
  }
  return value
}

const url = setting('SDK_API_URL')
const writeKey = setting('SDK_WRITE_KEY')
const userId = setting('SDK_USER_ID')
const anonymousId = setting('SDK_ANONYMOUS_ID')
const mode = setting('SDK_MODE', 'batch')
if (!['batch', 'single'].includes(mode)) {
  console.error(`node_client: SDK_MODE must be "batch" or "single", not ${mode}`)
  process.exit(2)
}

const errors = []
const responses = []
const requests = []
const messages = [] // every call the SDK put on the wire: {type, event, messageId}
const refusals = [] // the bodies of the API's answers >= 400 (the SDK reads only the status)

// The SDK posts with globalThis.fetch; watching it (not replacing it) shows why the API
// refused a batch, which the SDK's error ("[400] Bad Request") does not say.
const sdkFetch = globalThis.fetch
globalThis.fetch = async (...args) => {
  const response = await sdkFetch(...args)
  if (response.status >= 400) {
    refusals.push({ status: response.status, body: await response.clone().text() })
  }
  return response
}

const analytics = new Analytics({
  writeKey,
  host: url,
  // Fail within the test's time rather than retrying for minutes (default: 10).
  maxRetries: 2,
  ...(mode === 'single' ? { flushAt: 1, maxEventsInBatch: 1 } : {}),
})

analytics.on('error', (err) => {
  errors.push({
    code: err.code,
    reason: String(err.reason?.message ?? err.reason),
    type: err.ctx?.event?.type,
  })
})
analytics.on('call_after_close', (event) => {
  errors.push({ code: 'call_after_close', type: event.type })
})
analytics.on('http_request', (req) => {
  const body = JSON.parse(req.body)
  requests.push({ url: req.url, events: body.batch.length })
  // A retried batch is sent again with the same messageIds: list each call once.
  for (const e of body.batch) {
    if (!messages.some((m) => m.messageId === e.messageId)) {
      messages.push({ type: e.type, event: e.event ?? null, messageId: e.messageId })
    }
  }
})
analytics.on('http_response', (res) => {
  responses.push({ status: res.status, url: res.url })
})

const groupId = `acme-${userId}`

// Before signing up: anonymous.
analytics.page({
  anonymousId,
  category: 'Docs',
  name: 'Pricing',
  properties: { path: '/pricing', url: 'https://example.com/pricing' },
})
analytics.track({ anonymousId, event: 'signup.started', properties: { plan: 'pro' } })
// Signed up: the anonymous visitor becomes the user.
analytics.alias({ userId, previousId: anonymousId })
analytics.identify({ userId, traits: { email: 'ada@example.com', plan: 'pro' } })
analytics.track({ userId, event: 'cart.updated', properties: { item_count: 2 } })
analytics.screen({ userId, category: 'App', name: 'Home', properties: { build: 42 } })
analytics.group({ userId, groupId, traits: { name: 'Acme', employees: 12 } })

await analytics.closeAndFlush({ timeout: 30000 })

const failedResponses = responses.filter((r) => r.status >= 400)
const ok = errors.length === 0 && failedResponses.length === 0 && responses.length > 0
console.log(JSON.stringify({ ok, mode, groupId, messages, requests, responses, errors, refusals }))
for (const e of errors) console.error(`node_client: SDK error ${JSON.stringify(e)}`)
for (const r of failedResponses) console.error(`node_client: HTTP ${r.status} from ${r.url}`)
for (const r of refusals) console.error(`node_client: the API answered ${r.status}: ${r.body}`)
process.exit(ok ? 0 : 1)
