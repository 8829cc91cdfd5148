// Compiled with `tsc --noEmit` as CommonJS (`tsconfig.cjs.json`): require() gets the
// CommonJS declarations (index.d.cts), with the same typed events.
import cdhooks = require('cdhooks');

const ok: boolean = cdhooks.verifyWebhook('{}', 'abc', 'your_webhook_secret');
const wh = new cdhooks.Webhook('your_webhook_secret');
const event: cdhooks.CdhooksEvent = wh.verify('{}', {});
if (event.type === 'billing.payment.succeeded') {
  const invoice: string = event.data.invoice_id;
  void invoice;
}
try {
  wh.verify('{}', {});
} catch (e) {
  if (e instanceof cdhooks.WebhookVerificationError) {
    const code: cdhooks.WebhookErrorCode = e.code;
    void code;
  }
}
void ok;
