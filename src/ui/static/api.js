// The API over fetch: JSON in, JSON out, errors as ApiError carrying the API's one error shape.
// The session (an API key or a JWT, and the namespace the pages show) lives in sessionStorage:
// it goes with the tab, is never sent anywhere but this daemon, and every request carries it as
// a bearer token. Paths are written as the default namespace's (/v1/runs); another namespace
// reaches them under /v1/namespaces/{ns}/.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

const TOKEN = 'rf.token';
const NAMESPACE = 'rf.namespace';
const NS_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

function stored(key) {
  try {
    return sessionStorage.getItem(key) || '';
  } catch (e) {
    return '';  // storage disabled: a session lasts as long as the page
  }
}

function store(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch (e) {
    // storage disabled: nothing kept
  }
}

export const session = {
  token: stored(TOKEN),
  namespace: NS_RE.test(stored(NAMESPACE)) ? stored(NAMESPACE) : 'default',
};

export function validNamespace(ns) {
  return NS_RE.test(ns);
}

export function setSession(token, namespace) {
  session.token = token;
  session.namespace = namespace || 'default';
  store(TOKEN, token);
  store(NAMESPACE, session.namespace === 'default' ? '' : session.namespace);
}

// The path in the session's namespace; what is not per namespace stays as it is.
export function scoped(path) {
  if (session.namespace === 'default' || !path.startsWith('/v1/') || path.startsWith('/v1/openapi')) return path;
  return '/v1/namespaces/' + encodeURIComponent(session.namespace) + path.slice(3);
}

// A 401 anywhere: the app (app.js) shows the sign-in form.
export function unauthorized(err) {
  window.dispatchEvent(new CustomEvent('rf-unauthorized', {detail: err}));
}

export function authHeaders(extra) {
  const headers = Object.assign({}, extra);
  if (session.token) headers.Authorization = 'Bearer ' + session.token;
  return headers;
}

export async function api(method, path, body) {
  path = scoped(path);
  const init = {method, headers: authHeaders({Accept: 'application/json'}), credentials: 'omit'};
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
    const e = new ApiError(resp.status, err.code, err.message, err.field);
    if (resp.status === 401) unauthorized(e);
    throw e;
  }
  return doc;
}

// An SSE stream over fetch (EventSource cannot send a bearer token): each event goes to
// onEvent({type, data, id}); onOpen() once the answer is 200. A stream that breaks is reopened
// after a second with Last-Event-ID, as EventSource would; an answer other than 200 ends it
// with onClosed(ApiError). The returned function closes it.
export function openStream(path, {onOpen, onEvent, onClosed, onRetry}) {
  let ctrl = null;
  let lastId = '';
  let closed = false;
  let timer = null;

  const parse = (block) => {
    const ev = {type: 'message', data: '', id: ''};
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') ev.type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') ev.id = value;
    }
    if (data.length === 0) return;
    ev.data = data.join('\n');
    if (ev.id) lastId = ev.id;
    onEvent(ev);
  };

  const retry = () => {
    if (closed) return;
    if (onRetry) onRetry();
    timer = setTimeout(connect, 1000);
  };

  async function connect() {
    timer = null;
    ctrl = new AbortController();
    const headers = authHeaders({Accept: 'text/event-stream'});
    if (lastId) headers['Last-Event-ID'] = lastId;
    let resp;
    try {
      resp = await fetch(scoped(path), {headers, signal: ctrl.signal, credentials: 'omit', cache: 'no-store'});
    } catch (e) {
      retry();
      return;
    }
    if (!resp.ok) {
      let err = {code: 'http_' + resp.status, message: resp.statusText};
      try {
        const doc = await resp.json();
        if (doc && doc.error) err = doc.error;
      } catch (e) {
        // not JSON: keep the status line
      }
      closed = true;
      const e = new ApiError(resp.status, err.code, err.message, err.field);
      if (resp.status === 401) unauthorized(e);
      if (onClosed) onClosed(e);
      return;
    }
    if (onOpen) onOpen();
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += decoder.decode(value, {stream: true}).replace(/\r\n?/g, '\n');
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          parse(block);
          if (closed) return;
        }
      }
    } catch (e) {
      // aborted by close(), or the connection broke
    }
    retry();
  }

  connect();
  return () => {
    closed = true;
    if (timer !== null) clearTimeout(timer);
    if (ctrl) ctrl.abort();
  };
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
