// The API over fetch: JSON in, JSON out, errors as ApiError carrying the API's one error shape.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export async function api(method, path, body) {
  const init = {method, headers: {Accept: 'application/json'}};
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'the daemon did not answer (' + e.message + ')');
  }
  const text = await resp.text();
  let doc = null;
  if (text) {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      doc = null;
    }
  }
  if (!resp.ok) {
    const err = doc && doc.error ? doc.error : {code: 'http_' + resp.status, message: resp.statusText};
    throw new ApiError(resp.status, err.code, err.message, err.field);
  }
  return doc;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);

export function enc(s) {
  return encodeURIComponent(s);
}

// Prometheus text exposition -> [{name, labels, value}] (no timestamps, as /metrics writes).
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[3] || '')) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({name: m[1], labels, value: Number(m[4])});
  }
  return out;
}

export function metricSum(samples, name, labels) {
  let n = 0;
  for (const x of samples) {
    if (x.name !== name) continue;
    if (labels && Object.entries(labels).some(([k, v]) => x.labels[k] !== v)) continue;
    n += x.value;
  }
  return n;
}
