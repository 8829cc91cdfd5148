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
