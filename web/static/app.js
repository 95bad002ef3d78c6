// Qun dashboard. Plain JavaScript, no build step, no dependencies: every
// view reads the public JSON API (/v1/...) and redraws every 2 seconds;
// on a server with authentication it logs in first (see login below).
// Numbers a test compares with the API carry data-k="name" attributes; the
// body's data-view and data-rendered say which view finished drawing and
// how many times.
'use strict';

const REFRESH_MS = 2000;
const MAP_BUDGET = 3000; // boxes a map window may hold before the view asks less depth

const app = {
  rendered: 0,
  busy: false,
  summary: null,    // GET /v1/pool, fetched once
  mapMode: 'free',  // colouring of the pool map: free, queue, job, health
  usageWindow: '1h',
  fair: {},         // queue -> [[time, chip-hours]] sampled by this page since it opened
  attempt: {},      // job -> attempt whose log is shown
  lastMap: null,    // {boxes, map} of the drawn map, for hit tests
};

// ---- helpers ---------------------------------------------------------------

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]));
}

async function api(path, text) {
  const r = await fetch(path, {headers: {Accept: text ? 'text/plain' : 'application/json'}});
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try {
      const e = await r.json();
      msg = e.message + (e.problems ? ': ' + e.problems.map(p => (p.field ? p.field + ': ' : '') + p.message).join('; ') : '');
    } catch (_) { /* not JSON */ }
    const err = new Error(path + ': ' + msg);
    err.status = r.status;
    throw err;
  }
  return text ? r.text() : r.json();
}

function fmtDur(sec) {
  if (sec == null || !isFinite(sec) || sec < 0) return '—';
  if (sec < 1) return (sec * 1000).toFixed(sec < 0.01 ? 2 : 1) + ' ms';
  if (sec < 90) return sec.toFixed(1) + ' s';
  if (sec < 5400) return (sec / 60).toFixed(1) + ' min';
  if (sec < 172800) return (sec / 3600).toFixed(1) + ' h';
  return (sec / 86400).toFixed(1) + ' d';
}

function fmtSec(sec) { // model times: seconds with enough digits
  if (sec == null || sec < 0 || !isFinite(sec)) return '—';
  if (sec === 0) return '0';
  if (sec < 1e-3) return (sec * 1e6).toFixed(1) + ' µs';
  if (sec < 1) return (sec * 1e3).toFixed(2) + ' ms';
  return sec.toFixed(3) + ' s';
}

const num = n => (n ?? 0).toLocaleString('en-US');
const milliChips = m => { const c = (m ?? 0) / 1000; return Number.isInteger(c) ? String(c) : c.toFixed(3); };
const ago = t => t ? fmtDur((Date.now() - Date.parse(t)) / 1000) : '—';
const stateTag = s => `<span class="state ${esc(s)}">${esc(s)}</span>`;
const k = (key, v, raw) => `<span data-k="${esc(key)}"${raw !== undefined ? ` data-v="${esc(raw)}"` : ''}>${esc(v)}</span>`;

function hue(s) { // a stable colour per name
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return `hsl(${(h >>> 0) % 360}, 62%, 52%)`;
}

function mix(a, b, t) { // hex colours
  const p = x => [1, 3, 5].map(i => parseInt(x.slice(i, i + 2), 16));
  const A = p(a), B = p(b);
  return 'rgb(' + A.map((v, i) => Math.round(v + (B[i] - v) * Math.max(0, Math.min(1, t)))).join(',') + ')';
}

function route() {
  const parts = (location.hash || '#/overview').replace(/^#\/?/, '').split('/').filter(Boolean);
  return {name: parts[0] || 'overview', args: parts.slice(1).map(decodeURIComponent)};
}

function jobChips(j) {
  let m = 0;
  for (const p of j.placement || []) m += p.devices.length * p.chip_milli;
  return m;
}

function specOf(j) { return j.spec || {}; }

function requestedChips(j) {
  const s = specOf(j);
  const per = Number(s.chipsPerRank ?? 1);
  if (s.ranks && isFinite(per)) return s.ranks * per;
  return null;
}

// ---- refresh loop ------------------------------------------------------------

// ---- logging in ----------------------------------------------------------
// A server with authentication answers 401 until the browser holds a
// session: the page trades a token (from the link qun up prints,
// #login=TOKEN, or typed into the form below) for an HttpOnly cookie with
// POST /v1/session. The cookie authenticates reads only.

async function login(token) {
  const r = await fetch('/v1/session', {method: 'POST', headers: {Authorization: 'Bearer ' + token.trim()}});
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).message; } catch (_) { /* not JSON */ }
    throw new Error('log in: ' + msg);
  }
  app.needLogin = false;
}

function askToken(message) {
  app.needLogin = true;
  document.body.dataset.view = 'login';
  show(`<section class="login"><h2>Log in</h2>
    <p>${esc(message)}</p>
    <p>Paste a token (<code>qun token create --role reader --queue QUEUE</code>), or open the link <code>qun up</code> printed.</p>
    <form id="login"><input id="token" type="password" autocomplete="off" placeholder="qun1.…" size="48"> <button>Log in</button></form>
    <p id="login-error" class="bad"></p></section>`);
  document.getElementById('login').addEventListener('submit', async ev => {
    ev.preventDefault();
    try {
      await login(document.getElementById('token').value);
      refresh();
    } catch (e) {
      document.getElementById('login-error').textContent = e.message;
    }
  });
}

async function start() {
  const m = location.hash.match(/^#login=([^&]+)$/);
  if (m) {
    history.replaceState(null, '', location.pathname + location.search + '#/overview'); // the token leaves the address bar
    try { await login(decodeURIComponent(m[1])); } catch (e) { askToken(e.message); return; }
  }
  refresh();
}

async function refresh() {
  if (app.needLogin) return;
  if (app.busy) { app.again = true; return; }
  app.again = false;
  app.busy = true;
  const r = route();
  const view = views[r.name] || views.overview;
  try {
    if (!app.summary) {
      app.summary = await api('/v1/pool');
      document.getElementById('pool-name').textContent = app.summary.name + ' · ' + num(app.summary.chips) + ' chips';
    }
    await view(r.args);
    document.getElementById('error').hidden = true;
    document.getElementById('live').classList.remove('stale');
    document.body.dataset.view = r.name;
    document.body.dataset.rendered = String(++app.rendered);
  } catch (e) {
    if (e.status === 401) { app.busy = false; askToken(e.message); return; }
    const box = document.getElementById('error');
    box.textContent = e.message;
    box.hidden = false;
    document.getElementById('live').classList.add('stale');
  } finally {
    app.busy = false;
  }
  if (app.again) { setTimeout(refresh, 0); return; }
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('on', a.dataset.nav === r.name || (r.name === 'job' && a.dataset.nav === 'jobs'));
}

function show(html) {
  const v = document.getElementById('view');
  v.innerHTML = html;
  return v;
}

// ---- overview ----------------------------------------------------------------

async function overview() {
  const [map, jobs, nodes] = await Promise.all([api('/v1/pool/map?depth=0'), api('/v1/jobs'), api('/v1/nodes')]);
  const byState = {};
  for (const j of jobs.jobs) byState[j.state] = (byState[j.state] || 0) + 1;
  const pending = jobs.jobs.filter(j => j.state === 'pending');
  const oldest = pending.reduce((m, j) => Math.min(m, Date.parse(j.submitted_at)), Infinity);
  const hourAgo = Date.now() - 3600e3;
  const failed = jobs.jobs.filter(j => j.state === 'failed' && j.finished_at && Date.parse(j.finished_at) >= hourAgo).length;
  const lost = nodes.nodes.filter(n => n.state === 'lost' && Date.parse(n.last_heartbeat) >= hourAgo).length;
  const running = (byState.running || 0) + (byState.starting || 0);
  let rows = '';
  for (const kd of map.kinds) {
    rows += `<tr><td>${esc(kd.kind)}</td><td class="n">${k('chips-' + kd.kind + '-total', num(kd.chips), kd.chips)}</td>
      <td class="n">${k('chips-' + kd.kind + '-free', num(kd.free), kd.free)}</td>
      <td class="n">${k('chips-' + kd.kind + '-alloc', num(kd.alloc), kd.alloc)}</td>
      <td class="n">${k('chips-' + kd.kind + '-down', num(kd.down), kd.down)}</td></tr>`;
  }
  const states = ['pending', 'starting', 'running', 'stopping', 'succeeded', 'failed', 'cancelled'];
  show(`<h1>Overview</h1>
    <div class="cards">
      <div class="card"><div class="v">${k('running', running, running)}</div><div class="l">running jobs (incl. starting)</div></div>
      <div class="card"><div class="v">${k('pending', pending.length, pending.length)}</div><div class="l">pending jobs</div></div>
      <div class="card"><div class="v">${k('oldest-wait', pending.length ? fmtDur((Date.now() - oldest) / 1000) : '—')}</div><div class="l">oldest wait</div></div>
      <div class="card"><div class="v">${k('faults', failed + lost, failed + lost)}</div><div class="l">faults in the last hour (${failed} failed jobs, ${lost} lost nodes)</div></div>
      <div class="card"><div class="v">${k('nodes-ready', nodes.nodes.filter(n => n.state === 'ready').length)}</div><div class="l">ready nodes of ${num(app.summary.hosts)} hosts</div></div>
    </div>
    <h2>Chips by kind and state</h2>
    <table><tr><th>kind</th><th class="n">chips</th><th class="n">free</th><th class="n">alloc</th><th class="n">down</th></tr>${rows}</table>
    <h2>Jobs by state</h2>
    <table><tr>${states.map(s => `<th class="n">${s}</th>`).join('')}</tr>
      <tr>${states.map(s => `<td class="n">${k('jobs-' + s, byState[s] || 0, byState[s] || 0)}</td>`).join('')}</tr></table>`);
}

// ---- pool map ----------------------------------------------------------------

// mapDepth picks the deepest window below a domain of level lvl that stays
// within MAP_BUDGET boxes, estimated from the pool summary's domains per level.
function mapDepth(lvl) {
  const L = app.summary.levels;
  const here = Math.max(1, L[lvl].domains);
  let best = 1, boxes = 0;
  for (let d = 1; d <= 4; d++) {
    const l = lvl + d;
    if (l < L.length) boxes += L[l].domains / here;
    else if (l === L.length) boxes += app.summary.chips / here;
    else break;
    if (boxes > MAP_BUDGET) break;
    best = d;
  }
  return best;
}

async function fetchMap(domain, lvl) {
  let depth = mapDepth(lvl);
  for (;;) {
    try {
      return await api(`/v1/pool/map?domain=${domain}&depth=${depth}`);
    } catch (e) {
      if (e.status !== 400 || depth <= 1) throw e;
      depth--; // uneven pool: the estimate was too deep
    }
  }
}

function colourOf(d, mode, highlight) {
  const c = d.chips || 1;
  switch (mode) {
  case 'health':
    return d.down ? mix('#ffe3e3', '#c92a2a', d.down / c) : '#e6f4ea';
  case 'queue':
  case 'job': {
    const m = mode === 'queue' ? d.queues : d.jobs;
    if (!m) return d.down === d.chips ? '#f1d3d3' : '#eceff2';
    const top = Object.entries(m).sort((a, b) => b[1] - a[1])[0][0];
    return top ? hue(top) : '#eceff2';
  }
  default:
    if (d.down === d.chips) return '#f1d3d3';
    return mix('#dbe4ff', '#2f9e44', d.free / c);
  }
}

function chipColour(ch, mode) {
  if (ch.state === 'down') return '#e03131';
  if (ch.state === 'free') return mode === 'health' ? '#8ce99a' : '#2f9e44';
  if (mode === 'queue' && ch.queue) return hue(ch.queue);
  if (mode === 'job' && ch.job) return hue(ch.job);
  return '#1c7ed6';
}

function grid(n, w, h) { // columns and rows for n boxes in w×h
  let best = {cols: n, rows: 1, s: 0};
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const s = Math.min(w / cols, h / rows);
    if (s > best.s) best = {cols, rows, s};
  }
  return best;
}

// drawMap draws map.domain as nested boxes filling the canvas and returns
// the boxes drawn, deepest last, for hit tests.
function drawMap(canvas, map, mode, hl) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = Math.round(W * dpr);
  canvas.height = Math.round(H * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  g.font = '11px system-ui, sans-serif';
  g.textBaseline = 'top';
  const boxes = [];
  const hlDoms = hl ? new Set(hl.domains) : null;
  const hlChips = hl ? new Set(hl.chips.map(c => c.leaf + ':' + c.device)) : null;
  let outlined = 0;
  const draw = (d, x, y, w, h) => {
    boxes.push({d, x, y, w, h});
    const kids = d.children || [];
    const chips = d.chip_list || [];
    const label = w > 38 && h > 18;
    g.fillStyle = (kids.length || chips.length) ? '#f8f9fb' : colourOf(d, mode);
    g.fillRect(x, y, w, h);
    g.strokeStyle = hlDoms && hlDoms.has(d.id) ? '#f08c00' : '#b8c0ca';
    g.lineWidth = hlDoms && hlDoms.has(d.id) ? 2.5 : 1;
    g.strokeRect(x + .5, y + .5, w - 1, h - 1);
    let top = 2;
    if (label) {
      g.fillStyle = '#1d232b';
      const text = `${d.name} ${d.free}/${d.chips}`;
      g.fillText(text.length * 6 > w ? d.name : text, x + 3, y + 2);
      top = 15;
    }
    const items = kids.length ? kids : chips;
    if (!items.length || w < 6 || h < top + 4) return;
    const iw = w - 4, ih = h - top - 2;
    const gr = grid(items.length, iw, ih);
    const cw = iw / gr.cols, chh = ih / gr.rows;
    items.forEach((it, i) => {
      const cx = x + 2 + (i % gr.cols) * cw, cy = y + top + Math.floor(i / gr.cols) * chh;
      if (kids.length) {
        draw(it, cx + 1, cy + 1, Math.max(1, cw - 2), Math.max(1, chh - 2));
        return;
      }
      const pad = Math.min(2, cw / 6);
      g.fillStyle = chipColour(it, mode);
      g.fillRect(cx + pad, cy + pad, Math.max(1, cw - 2 * pad), Math.max(1, chh - 2 * pad));
      if (hlChips && hlChips.has(d.id + ':' + it.i)) {
        outlined++;
        g.strokeStyle = '#f08c00';
        g.lineWidth = 2;
        g.strokeRect(cx + pad, cy + pad, Math.max(1, cw - 2 * pad), Math.max(1, chh - 2 * pad));
      }
      boxes.push({d, chip: it, x: cx, y: cy, w: cw, h: chh});
    });
  };
  draw(map.domain, 0, 0, W, H);
  if (hl) canvas.dataset.outlined = String(outlined);
  return boxes;
}

function hit(boxes, x, y) {
  for (let i = boxes.length - 1; i >= 0; i--) {
    const b = boxes[i];
    if (x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h) return b;
  }
  return null;
}

function wireMap(canvas, map, boxes, opts) {
  const tip = document.getElementById('tip');
  canvas.addEventListener('mousemove', ev => {
    const r = canvas.getBoundingClientRect();
    const b = hit(boxes, ev.clientX - r.left, ev.clientY - r.top);
    if (!b) { tip.hidden = true; return; }
    const d = b.d, lv = map.levels[d.level];
    let t = b.chip
      ? `${d.name} chip ${b.chip.i} (${b.chip.kind}): ${b.chip.state}${b.chip.job ? '\njob ' + b.chip.job + ' · queue ' + b.chip.queue : ''}${b.chip.healthy ? '' : '\nunhealthy'}`
      : `${lv} ${d.name}: ${num(d.chips)} chips\nfree ${num(d.free)} · alloc ${num(d.alloc)} · down ${num(d.down)}\nlargest free block ${num(d.largest_free)} · fragmentation ${(d.frag || 0).toFixed(3)}`;
    if (!b.chip && d.queues) t += '\nqueues: ' + Object.entries(d.queues).map(([q, n]) => q + ' ' + n).join(', ');
    tip.textContent = t;
    tip.style.left = (ev.clientX + 12) + 'px';
    tip.style.top = (ev.clientY + 12) + 'px';
    tip.hidden = false;
  });
  canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
  canvas.addEventListener('click', ev => {
    const r = canvas.getBoundingClientRect();
    const b = hit(boxes, ev.clientX - r.left, ev.clientY - r.top);
    if (!b) return;
    let d = b.d;
    if (d.id === map.domain.id && !b.chip) return;
    if (opts && opts.onPick) { opts.onPick(d); return; }
    if (d.more || d.id !== map.domain.id) location.hash = '#/map/' + d.id;
  });
}

async function poolMap(args) {
  const id = args.length ? Number(args[0]) : 0;
  const lvl = args.length ? null : 0;
  let map;
  if (lvl === null) {
    // the level of an arbitrary domain is known once it is fetched: ask a
    // shallow window first, then the window its level allows
    const probe = await api(`/v1/pool/map?domain=${id}&depth=0`);
    map = await fetchMap(id, probe.domain.level);
  } else {
    map = await fetchMap(0, 0);
  }
  const crumbs = map.path.map(c => `<a href="#/map/${c.id}">${esc(map.levels[c.level])} ${esc(c.name)}</a>`).join(' › ');
  let stats = '';
  for (const ls of map.level_stats) {
    const gangs = Object.entries(ls.largest_gang).map(([kd, n]) => `${k('gang-' + ls.level + '-' + kd, num(n), n)} ${esc(kd)}`).join(', ') || '0';
    stats += `<tr><td>${esc(ls.level)}</td><td class="n">${num(ls.domains)}</td><td class="n">${num(ls.wholly_free)}</td>
      <td class="n">${k('frag-' + ls.level, ls.fragmentation.toFixed(3), ls.fragmentation)}</td><td class="n">${gangs}</td></tr>`;
  }
  const d = map.domain;
  const v = show(`<h1>Pool map</h1>
    <div class="crumbs">${crumbs}</div>
    <div class="controls">colour by
      <select id="mode">${['free', 'queue', 'job', 'health'].map(m => `<option${m === app.mapMode ? ' selected' : ''}>${m}</option>`).join('')}</select>
      <span class="legend"><span><i class="free"></i>free</span><span><i class="alloc"></i>allocated</span><span><i class="down"></i>down</span></span>
      <span class="muted">click a box to drill down · depth ${map.depth}</span></div>
    <div class="row"><div class="mapwrap"><canvas class="map" id="map"></canvas></div>
    <div class="side">
      <table><tr><th>${esc(map.levels[d.level])} ${esc(d.name)}</th><th class="n">chips</th></tr>
        <tr><td>total</td><td class="n">${k('map-chips', num(d.chips), d.chips)}</td></tr>
        <tr><td>free</td><td class="n">${k('map-free', num(d.free), d.free)}</td></tr>
        <tr><td>allocated</td><td class="n">${k('map-alloc', num(d.alloc), d.alloc)}</td></tr>
        <tr><td>down</td><td class="n">${k('map-down', num(d.down), d.down)}</td></tr>
        <tr><td>largest free block</td><td class="n">${k('map-largest', num(d.largest_free), d.largest_free)}</td></tr></table>
      <h2>Per level</h2>
      <table><tr><th>level</th><th class="n">domains</th><th class="n">wholly free</th><th class="n">fragmentation</th><th class="n">largest gang</th></tr>${stats}</table>
    </div></div>`);
  const canvas = v.querySelector('#map');
  const t0 = performance.now();
  const boxes = drawMap(canvas, map, app.mapMode);
  window.qunMapDrawMs = performance.now() - t0;
  document.body.dataset.mapBoxes = String(boxes.length);
  wireMap(canvas, map, boxes);
  v.querySelector('#mode').addEventListener('change', ev => { app.mapMode = ev.target.value; drawMap(canvas, map, app.mapMode); });
}

// ---- queues ------------------------------------------------------------------

function spark(points) {
  if (points.length < 2) return '<span class="muted">collecting…</span>';
  const w = 120, h = 22;
  const ys = points.map(p => p[1]);
  const lo = Math.min(...ys), hi = Math.max(...ys);
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const xy = points.map(([t, y]) => `${((t - t0) / Math.max(1, t1 - t0) * w).toFixed(1)},${(h - 2 - (hi > lo ? (y - lo) / (hi - lo) : .5) * (h - 4)).toFixed(1)}`);
  return `<svg class="spark" width="${w}" height="${h}"><polyline fill="none" stroke="#1c7ed6" stroke-width="1.5" points="${xy.join(' ')}"/></svg>`;
}

async function queues() {
  const ql = await api('/v1/queues');
  const now = Date.now();
  const guar = (q, kind) => (q.guaranteed_milli || {})[kind] ?? (q.guaranteed_milli || {})['*'] ?? 0;
  const kinds = new Set();
  for (const q of ql.queues) for (const kd of Object.keys(q.in_use_milli || {})) kinds.add(kd);
  for (const q of ql.queues) for (const kd of Object.keys(q.guaranteed_milli || {})) if (kd !== '*') kinds.add(kd);
  if (!kinds.size) for (const kd of app.summary.kinds) kinds.add(kd.kind.name);
  // borrowed: use beyond the guarantee; lent: the share of a queue's unused
  // guarantee that other queues' borrowing takes
  const borrowed = {}, unused = {};
  for (const q of ql.queues) for (const kd of kinds) {
    const u = (q.in_use_milli || {})[kd] || 0, g = guar(q, kd);
    borrowed[q.name + kd] = Math.max(0, u - g);
    unused[q.name + kd] = Math.max(0, g - u);
  }
  let rows = '';
  for (const q of ql.queues) {
    const hist = app.fair[q.name] = app.fair[q.name] || [];
    hist.push([now, (q.usage_chip_seconds || 0) / 3600]);
    if (hist.length > 600) hist.shift();
    const cell = f => [...kinds].map(kd => { const v = f(kd); return v ? `${milliChips(v)} ${esc(kd)}` : ''; }).filter(Boolean).join('<br>') || '0';
    const lent = kd => {
      let b = 0, un = 0;
      for (const o of ql.queues) { if (o.name !== q.name) b += borrowed[o.name + kd]; un += unused[o.name + kd]; }
      return un ? Math.round(unused[q.name + kd] * Math.min(1, b / un)) : 0;
    };
    const inUse = Object.values(q.in_use_milli || {}).reduce((a, b) => a + b, 0);
    rows += `<tr><td>${esc(q.name)}</td><td class="n">${q.weight}</td><td class="n">${cell(kd => guar(q, kd))}</td>
      <td class="n">${k('q-' + q.name + '-inuse', milliChips(inUse), inUse)}</td>
      <td class="n">${cell(kd => borrowed[q.name + kd])}</td><td class="n">${cell(lent)}</td>
      <td class="n">${k('q-' + q.name + '-running', q.running, q.running)}</td><td class="n">${k('q-' + q.name + '-pending', q.pending, q.pending)}</td>
      <td class="n">${((q.usage_chip_seconds || 0) / 3600).toFixed(3)}</td><td>${spark(hist)}</td></tr>`;
  }
  show(`<h1>Queues</h1>
    <table><tr><th>queue</th><th class="n">weight</th><th class="n">guaranteed</th><th class="n">in use (chips)</th><th class="n">borrowed</th><th class="n">lent</th>
    <th class="n">running</th><th class="n">pending</th><th class="n">fair-share usage (decayed chip-h)</th><th>history (since this page opened)</th></tr>${rows}</table>
    <p class="muted">Borrowed: chips in use beyond the guarantee. Lent: the part of a queue's unused guarantee that other queues' borrowing takes, shared in proportion.</p>`);
}

// ---- jobs --------------------------------------------------------------------

async function jobs(args) {
  if (args.length) return job(args);
  const jl = await api('/v1/jobs');
  const list = [...jl.jobs].reverse();
  let rows = '';
  for (const j of list) {
    const chips = jobChips(j);
    const wait = j.started_at ? (Date.parse(j.started_at) - Date.parse(j.submitted_at)) / 1000 : (j.state === 'pending' ? (Date.now() - Date.parse(j.submitted_at)) / 1000 : null);
    rows += `<tr><td><a href="#/jobs/${esc(j.id)}">${esc(j.id)}</a></td><td>${esc(j.name)}</td><td>${esc(j.queue)}</td>
      <td>${k('job-' + j.id + '-state', j.state)}</td><td class="n">${j.attempt}</td>
      <td class="n">${k('job-' + j.id + '-chips', milliChips(chips), chips)}</td><td>${esc(j.reason || '')}</td>
      <td class="n">${fmtDur(wait)}</td><td class="n">${ago(j.submitted_at)} ago</td></tr>`;
  }
  show(`<h1>Jobs</h1>
    <p>${k('jobs-total', jl.jobs.length, jl.jobs.length)} jobs</p>
    <table><tr><th>job</th><th>name</th><th>queue</th><th>state</th><th class="n">attempt</th><th class="n">chips</th><th>reason</th><th class="n">wait</th><th class="n">submitted</th></tr>${rows}</table>`);
}

async function job(args) {
  const id = args[0];
  const [j, ex, pl] = await Promise.all([api('/v1/jobs/' + encodeURIComponent(id)), api('/v1/jobs/' + encodeURIComponent(id) + '/explain'), api('/v1/jobs/' + encodeURIComponent(id) + '/placement')]);
  const attempt = app.attempt[id] ?? j.attempt;
  const ranks = Math.max(1, specOf(j).ranks || 1);
  const logs = await Promise.all([0, ranks - 1].filter((r, i, a) => a.indexOf(r) === i).flatMap(r => ['stdout', 'stderr'].map(s =>
    api(`/v1/jobs/${encodeURIComponent(id)}/logs/tail?rank=${r}&attempt=${attempt}&stream=${s}&bytes=4096`, true).then(t => [r, s, t]))));
  let place = '';
  for (const p of j.placement || []) place += `<tr><td class="n">${p.rank}</td><td>${esc(p.node)}</td><td>${p.devices.join(', ')}</td><td class="n">${milliChips(p.chip_milli)}</td></tr>`;
  let commHtml = '<p class="muted">No modelled communication: the job holds no chips, runs one rank, or shares chips.</p>';
  if (pl.comm) {
    const c = pl.comm;
    commHtml = `<p>Plan ${esc(c.plan)} on ${esc(c.kind)}: step communication ${k('comm-step', fmtSec(c.step_s), c.step_s)}, lower bound ${k('comm-bound', fmtSec(c.lower_bound_s), c.lower_bound_s)},
      ratio ${k('comm-ratio', c.ratio.toFixed(3), c.ratio)}${c.volumes_defaulted ? ' <span class="muted">(volumes defaulted from HBM)</span>' : ''}</p>
      <table><tr><th>collective</th><th>algorithm</th><th>level crossed</th><th class="n">modelled</th><th>bound level</th><th class="n">lower bound</th></tr>
      ${c.items.map(it => `<tr><td>${esc(it.collective)}</td><td>${esc(it.algorithm)}</td><td>${esc(it.level || '—')}</td><td class="n">${fmtSec(it.s)}</td><td>${esc(it.bound_level || '—')}</td><td class="n">${fmtSec(it.bound_s)}</td></tr>`).join('')}</table>`;
  }
  const recs = ex.records.map(r => `<tr><td>${esc(r.plugin)}</td><td>${esc(r.reason)}</td><td>${esc(r.detail || '')}</td><td class="n">${r.count || ''}</td></tr>`).join('');
  let rankRows = '';
  for (const r of j.ranks || []) rankRows += `<tr><td class="n">${r.rank}</td><td>${esc(r.node)}</td><td>${stateTag(r.state)}</td><td class="n">${r.exit_code ?? ''}${esc(r.signal || '')}</td></tr>`;
  // One row per ended attempt: why it ended and how the job came back.
  const recoveries = (j.history || []).map((h, i) => {
    const secs = h.recovered_at ? (Date.parse(h.recovered_at) - Date.parse(h.detected_at)) / 1000 : null;
    return `<tr><td class="n">${k('hist-' + i + '-attempt', h.attempt)}</td><td>${k('hist-' + i + '-cause', h.cause)}</td><td>${esc(h.detail || '')}</td>
      <td>${k('hist-' + i + '-path', h.path)}</td><td class="n">${secs == null ? '—' : k('hist-' + i + '-recovery', secs.toFixed(1) + ' s', secs)}</td></tr>`;
  }).join('');
  const attempts = Array.from({length: j.attempt + 1}, (_, i) => `<option value="${i}"${i === attempt ? ' selected' : ''}>attempt ${i}${i === j.attempt ? ' (current)' : ''}</option>`).join('');
  const v = show(`<h1>Job ${esc(j.id)} <span class="muted">${esc(j.name)}</span></h1>
    <div class="cards">
      <div class="card"><div class="v">${k('job-state', j.state)}</div><div class="l">state</div></div>
      <div class="card"><div class="v">${esc(j.queue)}</div><div class="l">queue · priority ${j.priority}</div></div>
      <div class="card"><div class="v">${k('job-attempt', j.attempt, j.attempt)}</div><div class="l">restarts (attempt number)</div></div>
      <div class="card"><div class="v">${k('job-chips', milliChips(jobChips(j)), jobChips(j))}</div><div class="l">chips held${requestedChips(j) != null ? ' of ' + requestedChips(j) + ' asked' : ''}</div></div>
    </div>
    <p>${j.reason ? 'Reason: ' + k('job-reason', j.reason) : ''}</p>
    <p class="muted">submitted ${ago(j.submitted_at)} ago${j.started_at ? ' · started ' + ago(j.started_at) + ' ago' : ''}${j.finished_at ? ' · finished ' + ago(j.finished_at) + ' ago' : ''}</p>
    <div class="row"><div class="mapwrap"><h2>Placement</h2><canvas class="map small" id="jmap"></canvas></div>
    <div class="side"><h2>Ranks</h2><table><tr><th class="n">rank</th><th>node</th><th>devices</th><th class="n">chips each</th></tr>${place || '<tr><td colspan="4" class="muted">not placed</td></tr>'}</table>
    ${rankRows ? `<h2>Rank states</h2><table><tr><th class="n">rank</th><th>node</th><th>state</th><th class="n">exit</th></tr>${rankRows}</table>` : ''}</div></div>
    <h2>Modelled communication per step</h2>${commHtml}
    <h2>Explanation</h2><table><tr><th>plugin</th><th>reason</th><th>detail</th><th class="n">count</th></tr>${recs || '<tr><td colspan="4" class="muted">none yet</td></tr>'}</table>
    <h2>Attempts and recoveries</h2><table><tr><th class="n">attempt</th><th>ended by</th><th>detail</th><th>came back by</th><th class="n">recovered in</th></tr>${recoveries || '<tr><td colspan="5" class="muted">the first attempt has not ended</td></tr>'}</table>
    <h2>Logs</h2><p><select id="attempt">${attempts}</select> <span class="muted">${j.attempt} restart(s)</span></p>
    ${logs.map(([r, s, t]) => `<h2>rank ${r} ${s} (tail)</h2><pre class="log" data-k="log-${r}-${s}">${esc(t) || '<span class="muted">(empty)</span>'}</pre>`).join('')}`);
  v.querySelector('#attempt').addEventListener('change', ev => { app.attempt[id] = Number(ev.target.value); refresh(); });
  const canvas = v.querySelector('#jmap');
  if (pl.enclosing >= 0) {
    // the enclosing domain's parent, for context, unless it is the root
    const around = await api(`/v1/pool/map?domain=${pl.enclosing}&depth=0`);
    const up = around.path.length > 1 ? around.path[around.path.length - 2] : around.path[0];
    const encl = up.id, lvl = up.level;
    const map = await fetchMap(encl, lvl);
    const boxes = drawMap(canvas, map, 'job', {domains: pl.domains, chips: pl.chips});
    wireMap(canvas, map, boxes, {onPick: d => { location.hash = '#/map/' + d.id; }});
  } else {
    const g = canvas.getContext('2d');
    canvas.width = canvas.clientWidth; canvas.height = canvas.clientHeight;
    g.fillStyle = '#66707c'; g.font = '13px system-ui'; g.fillText('The job holds no chips.', 12, 24);
  }
}

// ---- nodes -------------------------------------------------------------------

async function nodes() {
  const nl = await api('/v1/nodes');
  const map = await api('/v1/pool/map?depth=0');
  let rows = '';
  let ready = 0, healthy = 0, devices = 0;
  for (const n of nl.nodes) {
    if (n.state === 'ready') ready++;
    const h = n.devices.filter(d => d.healthy).length;
    healthy += h; devices += n.devices.length;
    const cordon = n.cordoned != null ? (n.cordoned ? 'cordoned' : '—') : '—';
    const drain = n.drain != null ? (n.drain ? 'draining' : '—') : (n.draining != null ? (n.draining ? 'draining' : '—') : '—');
    rows += `<tr><td>${esc(n.name)}</td><td>${k('node-' + n.name + '-state', n.state)}</td><td>${esc(n.address)}</td>
      <td class="n">${ago(n.last_heartbeat)} ago</td><td class="n">${k('node-' + n.name + '-healthy', h, h)} / ${n.devices.length}</td>
      <td><span class="chips">${n.devices.map(d => `<i class="${d.healthy ? 'free' : 'down'}" title="${esc(d.kind)} ${d.index} ${esc(d.uuid)}${d.healthy ? '' : ' unhealthy'}"></i>`).join('')}</span></td>
      <td>${cordon}</td><td>${drain}</td></tr>`;
  }
  show(`<h1>Nodes</h1>
    <p>${k('nodes-total', nl.nodes.length, nl.nodes.length)} registered, ${k('nodes-ready', ready, ready)} ready, ${k('devices-healthy', healthy, healthy)} of ${devices} devices healthy;
      ${num(app.summary.hosts)} hosts in the pool, ${num(map.domain.down)} chips down.</p>
    <table><tr><th>node</th><th>state</th><th>address</th><th class="n">last heartbeat</th><th class="n">healthy chips</th><th>chips</th><th>cordon</th><th>drain</th></tr>${rows}</table>`);
}

// ---- usage -------------------------------------------------------------------

const WINDOWS = {'1h': '1m', '6h': '5m', '24h': '30m', '168h': '4h'};

async function usage() {
  const win = app.usageWindow;
  const u = await api(`/v1/usage/history?window=${win}&step=${WINDOWS[win]}`);
  const queues = Object.keys(u.totals).sort();
  let rows = '';
  let total = 0;
  for (const q of queues) for (const [kd, v] of Object.entries(u.totals[q]).sort()) {
    total += v;
    rows += `<tr><td>${esc(q)}</td><td>${esc(kd)}</td><td class="n">${k('usage-' + q + '-' + kd, v.toFixed(4), v)}</td></tr>`;
  }
  const util = u.buckets.length ? u.buckets.reduce((a, b) => a + b.utilisation, 0) / u.buckets.length : 0;
  const v = show(`<h1>Usage</h1>
    <div class="controls">window <select id="win">${Object.keys(WINDOWS).map(w => `<option${w === win ? ' selected' : ''}>${w}</option>`).join('')}</select>
      <span class="muted">buckets of ${esc(u.step)}, chip-hours by queue; the line is utilisation (chip-hours over the pool's ${num(u.chips)} chips)</span></div>
    <canvas class="chart" id="usage"></canvas>
    <p>Total ${k('usage-total', total.toFixed(4), total)} chip-hours; mean utilisation ${k('usage-util', (util * 100).toFixed(2) + ' %', util)}.</p>
    <table><tr><th>queue</th><th>kind</th><th class="n">chip-hours</th></tr>${rows || '<tr><td colspan="3" class="muted">no usage in the window</td></tr>'}</table>`);
  v.querySelector('#win').addEventListener('change', ev => { app.usageWindow = ev.target.value; refresh(); });
  drawUsage(v.querySelector('#usage'), u, queues);
}

function drawUsage(canvas, u, queues) {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  canvas.width = W * dpr; canvas.height = H * dpr;
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const pad = {l: 48, r: 48, t: 12, b: 22};
  const n = u.buckets.length;
  const sums = u.buckets.map(b => Object.values(b.chip_hours).reduce((a, m) => a + Object.values(m).reduce((x, y) => x + y, 0), 0));
  const top = Math.max(1e-9, ...sums);
  const bw = (W - pad.l - pad.r) / Math.max(1, n);
  const y = v => H - pad.b - v / top * (H - pad.t - pad.b);
  g.font = '11px system-ui'; g.fillStyle = '#66707c';
  g.fillText(top.toPrecision(3) + ' chip-h', 2, pad.t);
  g.fillText('0', 2, H - pad.b - 10);
  u.buckets.forEach((b, i) => {
    let acc = 0;
    for (const q of queues) {
      const v = Object.values(b.chip_hours[q] || {}).reduce((a, c) => a + c, 0);
      if (!v) continue;
      g.fillStyle = hue(q);
      g.fillRect(pad.l + i * bw, y(acc + v), Math.max(1, bw - 1), y(acc) - y(acc + v));
      acc += v;
    }
  });
  g.strokeStyle = '#f08c00'; g.lineWidth = 1.5; g.beginPath();
  u.buckets.forEach((b, i) => {
    const yy = H - pad.b - b.utilisation * (H - pad.t - pad.b);
    if (i) g.lineTo(pad.l + (i + .5) * bw, yy); else g.moveTo(pad.l + (i + .5) * bw, yy);
  });
  g.stroke();
  g.fillStyle = '#f08c00'; g.fillText('100 %', W - pad.r + 4, pad.t); g.fillText('0 %', W - pad.r + 4, H - pad.b - 10);
  g.fillStyle = '#66707c';
  g.fillText(new Date(u.from).toLocaleTimeString(), pad.l, H - 14);
  const end = new Date(u.to).toLocaleTimeString();
  g.fillText(end, W - pad.r - g.measureText(end).width, H - 14);
  let lx = pad.l + 90;
  for (const q of queues) { g.fillStyle = hue(q); g.fillRect(lx, H - 12, 9, 9); g.fillStyle = '#1d232b'; g.fillText(q, lx + 12, H - 14); lx += g.measureText(q).width + 28; }
}

const views = {overview, map: poolMap, queues, jobs, job, nodes, usage};

window.addEventListener('hashchange', () => location.hash.startsWith('#login=') ? start() : refresh());
window.addEventListener('resize', () => refresh());
start();
setInterval(refresh, REFRESH_MS);
