// Next.js App Router: app/webhooks/cdhosting/route.js. A route handler is a plain
// `(request) => Response` function, so verifyRequest does the whole check: raw body,
// whichever signature scheme the request carries, the typed event.
import { verifyRequest, WebhookVerificationError } from 'cdhooks';

export async function POST(request) {
  try {
    const event = await verifyRequest(request, process.env.WEBHOOK_SECRET);
    if (event.type === 'billing.payment.failed') {
      // event.data.payment_id, event.data.reason, … (typed in TypeScript)
    }
    return new Response(null, { status: 204 });
  } catch (e) {
    if (e instanceof WebhookVerificationError) return Response.json({ error: e.code }, { status: 401 });
    throw e;
  }
}
