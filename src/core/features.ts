/**
 * Every feature, registered once: /metrics and OTLP render their families in
 * this order, `faultline check` prints their lines in this order. Adding a
 * feature is a folder in src/features/ and one line here; the compiler then
 * holds FaultlineState to the view its families declare.
 */
import { faults } from '../features/faults/index.js';
import { headroom } from '../features/headroom/index.js';
import { oom } from '../features/oom/index.js';
import { oomEta } from '../features/oom-eta/index.js';
import { stalls } from '../features/stalls/index.js';
import { trace } from '../features/trace/index.js';
import type { Feature } from './feature.js';

const REGISTERED = [faults, headroom, stalls, oom, oomEta, trace] as const;

/** A feature's view; none (never) for a feature without families. */
type ViewOf<F> = F extends Feature<infer View> ? (unknown extends View ? never : View) : never;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (all: infer I) => void ? I : never;
/** What the state must provide: every registered feature's view at once. */
export type FeatureViews = Intersection<ViewOf<(typeof REGISTERED)[number]>>;

export const FEATURES: readonly Feature<FeatureViews>[] = REGISTERED;
