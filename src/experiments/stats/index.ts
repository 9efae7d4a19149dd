/**
 * Experiment statistics: one pure module (no I/O, no clock, no randomness). Distribution
 * functions, the fixed-horizon tests (z for proportions, Welch's t for means), the
 * sample-ratio check, the always-valid sequential test, Holm's adjustment, CUPED and
 * sample sizes. Formulas: each file's header and docs/experiments-statistics.md.
 */

export { cupedAdjust, type CupedGroup } from './cuped.js';
export { chiSquareSf, normalCdf, normalPpf, normalSf, studentTPpf, studentTSf } from './distributions.js';
export { type FixedResult, relativeLift, twoProportionZTest, welchTTest } from './fixed.js';
export { holm } from './holm.js';
export { type SampleSizeOptions, sampleSize } from './power.js';
export { type MeanSample, meanSampleOf, type ProportionSample, proportionAsMean } from './samples.js';
export { type SequentialResult, sequentialTest } from './sequential.js';
export { sampleRatioMismatch } from './srm.js';
