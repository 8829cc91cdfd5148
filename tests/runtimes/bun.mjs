import * as api from 'cdhooks';
import { smoke } from './smoke.mjs';

console.log(JSON.stringify(smoke(api, `bun ${Bun.version}`)));
