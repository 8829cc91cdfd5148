// Deno.serve:
//   WEBHOOK_SECRET=your_webhook_secret PORT=3000 deno run --allow-net --allow-env --allow-read examples/deno.mjs
import { verifyRequest, WebhookVerificationError } from 'cdhooks';

const secret = Deno.env.get('WEBHOOK_SECRET');

Deno.serve({ hostname: '127.0.0.1', port: Number(Deno.env.get('PORT') ?? 3000) }, async (request) => {
  if (request.method !== 'POST' || new URL(request.url).pathname !== '/webhooks/cdhosting') {
    return new Response('not found', { status: 404 });
  }
  try {
    const event = await verifyRequest(request, secret);
    console.log(`received ${event.type} ${event.id}`);
    return new Response(null, { status: 204 });
  } catch (e) {
    if (e instanceof WebhookVerificationError) return Response.json({ error: e.code }, { status: 401 });
    throw e;
  }
});
