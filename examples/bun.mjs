// Bun.serve:
//   WEBHOOK_SECRET=your_webhook_secret PORT=3000 bun examples/bun.mjs
import { verifyRequest, WebhookVerificationError } from 'cdhooks';

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 3000),
  async fetch(request) {
    if (request.method !== 'POST' || new URL(request.url).pathname !== '/webhooks/cdhosting') {
      return new Response('not found', { status: 404 });
    }
    try {
      const event = await verifyRequest(request, process.env.WEBHOOK_SECRET);
      console.log(`received ${event.type} ${event.id}`);
      return new Response(null, { status: 204 });
    } catch (e) {
      if (e instanceof WebhookVerificationError) return Response.json({ error: e.code }, { status: 401 });
      throw e;
    }
  },
});
console.log(`listening on http://127.0.0.1:${server.port}/webhooks/cdhosting`);
