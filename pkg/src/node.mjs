// Node ESM: the same instance as require('cdhooks').
import api from './node.cjs';

export const { verifyWebhook, signWebhook, verifyRequest, diagnoseSecret, isTestEvent, Webhook, WebhookVerificationError } = api;
export default api;
