/**
 * OOM kills: the victim at oom/mark_victim (bpf/oom.bpf.c) through the
 * oom_events ring (decode.ts), the constraint from the kernel log (kmsg.ts),
 * a count per victim and the latest victims' details (oom-kills.ts).
 */
import type { Feature } from '../../core/feature.js';
import { oomFamilies, type OomView } from './families.js';
import { KmsgOomReports } from './kmsg.js';

export const oom: Feature<OomView> = {
  name: 'oom',
  collector: 'oom',
  families: oomFamilies,
  checks: [
    {
      label: 'kmsg',
      required: false,
      run: () => {
        const kmsg = new KmsgOomReports();
        kmsg.close();
        if (kmsg.unavailable) throw new Error(`${kmsg.unavailable}: OOM kills will have constraint="unknown"`);
        return '/dev/kmsg readable: OOM constraints from the kernel log';
      },
    },
  ],
};
