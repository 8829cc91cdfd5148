// Fastify: Standard Webhooks with replay protection. The JSON content-type parser is
// replaced by one that keeps the raw bytes, which are what was signed.
//   WEBHOOK_SECRET=your_webhook_secret PORT=3000 node examples/fastify.mjs
import Fastify from 'fastify';
import { Webhook, WebhookVerificationError } from 'cdhooks';

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const app = Fastify();
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.post('/webhooks/cdhosting', async (request, reply) => {
  try {
    const event = webhook.verify(request.body, request.headers);
    request.log.info(`received ${event.type} ${event.id}`);
    return reply.code(204).send();
  } catch (e) {
    if (e instanceof WebhookVerificationError) return reply.code(401).send({ error: e.code });
    throw e;
  }
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on ${address}/webhooks/cdhosting`);
