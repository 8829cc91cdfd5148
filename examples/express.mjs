// Express: the docs' check on the raw body. `express.raw` keeps the bytes as they arrived;
// a JSON body parser would re-serialise them and no signature would match.
//   WEBHOOK_SECRET=your_webhook_secret PORT=3000 node examples/express.mjs
import express from 'express';
import { verifyWebhook } from 'cdhooks';

const secret = process.env.WEBHOOK_SECRET;
const app = express();

app.post('/webhooks/cdhosting', express.raw({ type: 'application/json' }), (req, res) => {
  if (!verifyWebhook(req.body, req.get('X-Webhook-Signature'), secret)) {
    return res.status(401).json({ error: 'invalid signature' });
  }
  const event = JSON.parse(req.body);
  console.log(`received ${event.type} ${event.id}`);
  res.sendStatus(204);
});

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/webhooks/cdhosting`);
});
