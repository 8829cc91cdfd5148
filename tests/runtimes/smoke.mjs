// The same calls in every runtime: published vectors, a round trip in both schemes, an error
// code, and the never-throws contract. Returns { ok, failures, runtime }.
export function smoke(api, runtime) {
  const { verifyWebhook, signWebhook, Webhook, WebhookVerificationError } = api;
  const failures = [];
  const check = (name, cond) => {
    if (!cond) failures.push(name);
  };
  // GitHub's and Stripe's published HMAC-SHA256 examples.
  check('github vector', verifyWebhook('Hello, World!', '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17', "It's a Secret to Everybody"));
  check('stripe vector', signWebhook('', 'test_secret') === 'f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd');
  check('bytes payload', verifyWebhook(new TextEncoder().encode('Hello, World!'), '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17', "It's a Secret to Everybody"));
  check('uppercase refused', !verifyWebhook('Hello, World!', '757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17', "It's a Secret to Everybody"));
  check('garbage refused without throwing', verifyWebhook('x', undefined, 'k') === false && verifyWebhook('x', 'short', 'k') === false);
  // The Standard Webhooks spec example, signed and verified now.
  const wh = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  check('spec signature', wh.sign('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}') === 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  const now = Math.floor(Date.now() / 1000);
  const body = '{"id":"evt_abc123","type":"server.started","created_at":"2025-01-15T10:30:00Z","data":{"status":"running"}}';
  const headers = { 'webhook-id': 'evt_abc123', 'webhook-timestamp': String(now), 'webhook-signature': wh.sign('evt_abc123', now, body) };
  check('v1 round trip', wh.verify(body, headers).data.status === 'running');
  if (typeof Headers === 'function') check('fetch Headers', wh.verify(body, new Headers(headers)).type === 'server.started');
  try {
    wh.verify(body + ' ', headers);
    failures.push('tampered body accepted');
  } catch (e) {
    check('error code', e instanceof WebhookVerificationError && e.code === 'signature_mismatch');
  }
  try {
    verifyWebhook({ parsed: true }, 'x', 'k');
    failures.push('object payload accepted');
  } catch (e) {
    check('TypeError for a parsed body', e instanceof TypeError);
  }
  return { ok: failures.length === 0, failures, runtime };
}
