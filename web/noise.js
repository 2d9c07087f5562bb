// The portable noise rule of the cgan-edge contract, in JavaScript.
// runtime/cgan_runtime/noise.py is the Python side; the rule itself is stated in
// runtime/cgan_runtime/contract.py and the README. No dependencies, so Node runs it too.

/** Seeds are integers in [0, 2^53): every one is exact in a JavaScript number. */
export const SEED_LIMIT = 2 ** 53;

const KEY_WORDS = 5; // seed_lo, seed_hi, label, occurrence, counter
const TWO_TO_MINUS_32 = 2 ** -32;

const rotl = (x, r) => (x << r) | (x >>> (32 - r));

function absorb(h, word) {
  let k = Math.imul(word, 0xcc9e2d51);
  k = Math.imul(rotl(k, 15), 0x1b873593);
  h = rotl(h ^ k, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * MurmurHash3_x86_32 (hash seed 0) of the 20 little-endian bytes
 * seed_lo, seed_hi, label, occurrence, counter, as an unsigned 32-bit integer.
 */
export function hashWords(seed, label, occurrence, counter) {
  let h = 0;
  h = absorb(h, seed % 2 ** 32);
  h = absorb(h, Math.floor(seed / 2 ** 32));
  h = absorb(h, label);
  h = absorb(h, occurrence);
  h = absorb(h, counter);
  h ^= 4 * KEY_WORDS;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Throws unless `seed` is an integer in [0, 2^53). */
export function checkSeed(seed) {
  if (!Number.isInteger(seed) || seed < 0 || seed >= SEED_LIMIT) {
    throw new RangeError(`seed must be an integer in [0, 2^53), got ${seed}`);
  }
  return seed;
}

/**
 * Float32Array [labels.length * nz], row-major: the noise for integer `labels`.
 * The j-th occurrence of label L gets row j of L's noise, so an image depends only on
 * (seed, label, j). Element k of a row is Box-Muller in float64 on the hashes of
 * counters 2k and 2k+1, then rounded to float32.
 */
export function noiseForLabels(labels, nz, seed) {
  checkSeed(seed);
  if (!Number.isInteger(nz) || nz < 1) throw new RangeError(`nz must be an integer >= 1, got ${nz}`);
  const noise = new Float32Array(labels.length * nz);
  const seen = new Map();
  labels.forEach((label, row) => {
    const j = seen.get(label) ?? 0;
    seen.set(label, j + 1);
    for (let k = 0; k < nz; k++) {
      const u1 = (hashWords(seed, label, j, 2 * k) + 1) * TWO_TO_MINUS_32; // (0, 1]: log(u1) is finite
      const u2 = hashWords(seed, label, j, 2 * k + 1) * TWO_TO_MINUS_32; // [0, 1)
      noise[row * nz + k] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
  });
  return noise;
}
