/** OOM kills: a count per victim comm, and the details of the latest victims. */
import type { OomKillEvent } from '../bpf/contract.js';

export interface OomKillsOptions {
  /** How many recent victims to keep with their details. Default 10. */
  recentVictims?: number;
  /** At most this many distinct comms; the rest count under "other". Default 1000. */
  maxComms?: number;
}

export const OTHER_COMM = 'other';

export class OomKills {
  private readonly byComm = new Map<string, number>();
  private readonly latest: OomKillEvent[] = [];
  private readonly recentVictims: number;
  private readonly maxComms: number;
  total = 0;

  constructor(options: OomKillsOptions = {}) {
    this.recentVictims = options.recentVictims ?? 10;
    this.maxComms = options.maxComms ?? 1000;
  }

  record(kill: OomKillEvent): void {
    this.total++;
    const comm = this.byComm.has(kill.comm) || this.byComm.size < this.maxComms ? kill.comm : OTHER_COMM;
    this.byComm.set(comm, (this.byComm.get(comm) ?? 0) + 1);
    this.latest.push(kill);
    if (this.latest.length > this.recentVictims) this.latest.shift();
  }

  countsByComm(): ReadonlyMap<string, number> {
    return this.byComm;
  }

  /** The latest victims, oldest first. */
  recent(): readonly OomKillEvent[] {
    return this.latest;
  }
}
