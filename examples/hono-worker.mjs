// Hono on Cloudflare Workers (workerd): `c.req.raw` is the Fetch Request; the secret is a
// binding. Deploy with wrangler as usual; the package's `workerd` build imports its .wasm.
import { Hono } from 'hono';
import { verifyRequest, WebhookVerificationError } from 'cdhooks';

const app = new Hono();

app.post('/webhooks/cdhosting', async (c) => {
  try {
    const event = await verifyRequest(c.req.raw, c.env.WEBHOOK_SECRET);
    console.log(`received ${event.type} ${event.id}`);
    return c.body(null, 204);
  } catch (e) {
    if (e instanceof WebhookVerificationError) return c.json({ error: e.code }, 401);
    throw e;
  }
});

export default app;
