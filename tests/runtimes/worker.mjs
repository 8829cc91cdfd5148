import * as api from 'cdhooks/src/workerd.mjs';
import { smoke } from './smoke.mjs';

export default {
  fetch() {
    return Response.json(smoke(api, 'workerd'));
  },
};
