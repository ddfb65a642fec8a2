// The seeded PRNG of the differential tests (tests/js/differential.test.mjs,
// tests/js/handshake-differential.test.mjs): mulberry32, small and deterministic, so that a
// failure replays from the seed it prints.
//
//   const { rand, chance, pick } = seeded(20261125);

/** mulberry32: a function returning the next number in [0, 1) of the sequence of `seed`. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The sequence of `seed` with the draws the generators use: `rand()` in [0, 1),
 * `chance(p)` true with probability p, `pick(array)` one element.
 */
export function seeded(seed) {
  const rand = rng(seed);
  return {
    rand,
    chance: (p) => rand() < p,
    pick: (arr) => arr[Math.floor(rand() * arr.length)],
  };
}
