// Compiled with `tsc --noEmit` by `make test-js`: the declarations describe real usage.
import { verifyWebhook, signWebhook, Webhook, WebhookVerificationError, type WebhookEvent } from 'cdhooks';

const ok: boolean = verifyWebhook('{}', 'abc', 'your_webhook_secret');
const fromBytes: boolean = verifyWebhook(new Uint8Array(2), undefined, new Uint8Array([1]));
const signature: string = signWebhook('{}', 'your_webhook_secret');
const wh = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', { toleranceSeconds: 60, legacy: false });
const header: string = wh.sign('evt_1', 1_700_000_000, '{}');
try {
  const event: WebhookEvent<{ server_id: string }> = wh.verify('{}', new Headers());
  const id: string = event.data.server_id;
  void id;
  wh.verify('{}', { 'webhook-id': 'x', 'webhook-timestamp': ['1'] });
} catch (e) {
  if (e instanceof WebhookVerificationError) {
    const code: 'missing_header' | string = e.code;
    void code;
  }
}
// @ts-expect-error: a parsed object is not a raw body
verifyWebhook({ id: 'evt_1' }, signature, 'secret');
void ok, fromBytes, header;

// Typed events: `type` narrows `data`.
import { verifyRequest, diagnoseSecret, isTestEvent, type CdhooksEvent, type EventOf, type WebhookErrorCode } from 'cdhooks';
declare const delivered: CdhooksEvent;
if (delivered.type === 'billing.payment.failed') {
  const reason: string = delivered.data.reason;
  const amount: number = delivered.data.amount;
  void reason, amount;
} else if (delivered.type === 'server.backup.completed') {
  const size: number = delivered.data.size_bytes;
  void size;
}
// @ts-expect-error: server.started has no `amount`
void ((e: EventOf<'server.started'>) => e.data.amount);
// @ts-expect-error: not an event type
const unknownType: CdhooksEvent['type'] = 'server.exploded';
void unknownType;
const typed = new Webhook(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', 'your_webhook_secret']).verify('{}', new Headers());
const typedName: CdhooksEvent['type'] = typed.type;
const signedAt: string = wh.sign('evt_1', new Date(), '{}');
const anyOf: boolean = verifyWebhook('{}', 'abc', ['old', 'new']);
const errorCode: WebhookErrorCode = 'invalid_payload';
async function handler(request: Request): Promise<Response> {
  const event = await verifyRequest(request, 'your_webhook_secret');
  if (event.type === 'server.started') return new Response(event.data.ip);
  return new Response(null, { status: 204 });
}
const hints: string[] = diagnoseSecret(' secret\n').map((h) => h.message);
void typedName, signedAt, anyOf, errorCode, handler, hints;

// A verified event says whether it is a test; the id alone does too.
const isTest: boolean = isTestEvent({ id: 'evt_test_1' }) || isTestEvent('evt_1');
void isTest;
