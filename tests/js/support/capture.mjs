// Captures the audit lines pkg-js prints (console.log) while a call runs.

/**
 * Runs `fn` with console.log captured; returns [result, audit events] without the
 * config.invalid lines a Guard prints once. `sink`, when given, also receives every raw line.
 */
export async function capture(fn, sink = null) {
  const lines = [];
  const original = console.log;
  console.log = (...args) => lines.push(args.join(" "));
  try {
    const result = await fn();
    sink?.push(...lines);
    return [result, lines.map((l) => JSON.parse(l)).filter((e) => e.event !== "config.invalid")];
  } finally {
    console.log = original;
  }
}
