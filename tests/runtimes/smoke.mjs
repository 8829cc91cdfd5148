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
  // Ed25519 (v1a) with a public key, from tests/vectors/v1a.json (signed at 1736937000, so
  // the tolerance reaches back to then): the valid one verifies; S + L and a small-order R
  // (which plain RFC 8032 verifiers accept) are refused; a public key cannot sign.
  const pk = new Webhook('whpk_iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=', { toleranceSeconds: 1e10 });
  const v1aBody = '{"id":"evt_1","type":"server.created","created_at":"2026-01-01T00:00:00Z","data":{"server_id":"srv_1"}}';
  const v1a = (signature) => ({ 'webhook-id': 'msg_0', 'webhook-timestamp': '1736937000', 'webhook-signature': signature });
  check('v1a verifies', pk.verify(v1aBody, v1a('v1a,VI6IWNCEKmrASEnsQWoWYgHPy4yyvH3rY4xv+5Ceukev3BppaJwNzSwdISv+w7qgI/CgO9q/tpy5NHrV9P14Dg==')).id === 'evt_1');
  const refused = (hook, body, headers) => {
    try {
      hook.verify(body, headers);
      return false;
    } catch (e) {
      return e instanceof WebhookVerificationError && e.code === 'signature_mismatch';
    }
  };
  check('v1a S + L refused', refused(pk, v1aBody, v1a('v1a,VI6IWNCEKmrASEnsQWoWYgHPy4yyvH3rY4xv+5CeukecsBDGgv8fJQO6GM7cvZm1I/CgO9q/tpy5NHrV9P14Hg==')));
  const mixed = new Webhook('whpk_9lMmHKLL/xUSmql6CrzMnjHzUZe+1wJDpgi4GddfrF0=', { toleranceSeconds: 1e10 });
  check('v1a small-order R refused', refused(mixed, '{"n":0}', { ...v1a('v1a,xxdqcD1N2E+6PAt2DRBnDyogU/osOczGTsf9d5KsA/pGrATnWg5UGZQ2p/lpLVDBR3H3O3lJSqbz/d3EtIbMCQ=='), 'webhook-id': 'msg_8' }));
  try {
    pk.sign('msg_0', 1736937000, v1aBody);
    failures.push('a public key signed');
  } catch (e) {
    check('a public key cannot sign', e instanceof TypeError);
  }
  try {
    verifyWebhook({ parsed: true }, 'x', 'k');
    failures.push('object payload accepted');
  } catch (e) {
    check('TypeError for a parsed body', e instanceof TypeError);
  }
  return { ok: failures.length === 0, failures, runtime };
}
