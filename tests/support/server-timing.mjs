// A strict reader of the `Server-Timing` header (W3C Server Timing, section 3: a comma-separated
// list of `metric-name *( OWS ";" OWS param )`, each param `token OWS "=" OWS (token |
// quoted-string)`), as browser dev tools and APMs read it. Throws on anything they would drop.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `[{ name, dur, desc }]` of a Server-Timing value; throws with the reason when malformed. */
export function parseServerTiming(value) {
  if (typeof value !== "string" || value.trim() === "") throw new Error("Server-Timing: empty");
  const metrics = [];
  let rest = value;
  while (rest.length > 0) {
    const metric = { params: {} };
    let m = /^\s*([^;,\s]+)\s*/.exec(rest);
    if (!m || !TOKEN.test(m[1])) throw new Error(`Server-Timing: bad metric name in ${JSON.stringify(rest)}`);
    metric.name = m[1];
    rest = rest.slice(m[0].length);
    while (rest.startsWith(";")) {
      m = /^;\s*([^=;,\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s"]+)\s*/.exec(rest);
      if (!m || !TOKEN.test(m[1])) throw new Error(`Server-Timing: bad parameter in ${JSON.stringify(rest)}`);
      const raw = m[2];
      metric.params[m[1]] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw;
      rest = rest.slice(m[0].length);
    }
    if (rest.startsWith(",")) rest = rest.slice(1);
    else if (rest.trim() !== "") throw new Error(`Server-Timing: expected "," before ${JSON.stringify(rest)}`);
    else rest = "";
    if ("dur" in metric.params) {
      const dur = Number(metric.params.dur);
      if (!Number.isFinite(dur) || dur < 0 || !/^\d+(\.\d+)?$/.test(metric.params.dur)) {
        throw new Error(`Server-Timing: bad dur ${metric.params.dur}`);
      }
      metric.dur = dur;
    }
    if ("desc" in metric.params) metric.desc = metric.params.desc;
    metrics.push(metric);
  }
  return metrics;
}

/**
 * The edge's metrics: `clerk-auth` (total, `desc` = the steps, `+`-joined) and one
 * `clerk-<step>` per timed step. Checks they are consistent: every timed step is named in
 * `desc`, each at most the total (to the header's 1 µs rounding).
 */
export function edgeTiming(value) {
  const metrics = parseServerTiming(value);
  const auth = metrics.find((m) => m.name === "clerk-auth");
  if (!auth || auth.dur === undefined || auth.desc === undefined) {
    throw new Error(`Server-Timing: no clerk-auth;dur;desc in ${value}`);
  }
  const steps = auth.desc.split("+");
  const timed = {};
  for (const m of metrics) {
    if (m.name === "clerk-auth") continue;
    const step = m.name.replace(/^clerk-/, "");
    if (!steps.includes(step)) throw new Error(`Server-Timing: ${m.name} timed but not in desc ${auth.desc}`);
    if (m.dur > auth.dur + 0.001) throw new Error(`Server-Timing: ${m.name} ${m.dur} ms > total ${auth.dur} ms`);
    timed[step] = m.dur;
  }
  return { total: auth.dur, steps, timed };
}
