/**
 * The dashboard's only script and stylesheet, served from /static (no CDN, no inline code:
 * the CSP allows 'self' only). Plain DOM code: data is placed with textContent, never as HTML.
 */

export const CLIENT_JS = `'use strict';
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var strict = document.querySelector('meta[name="strict-mode"]').content === 'on';
  // Every page of this session lives under /s/<path secret> (see auth.ts): so does every URL here.
  var base = document.querySelector('meta[name="base-path"]').content;
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }

  // Activity: live rows over SSE, filtered on the server with the page's own filters.
  var LIVE_ROWS = 500;
  var rows = document.getElementById('activity-rows');
  if (rows && rows.dataset.live === 'on') {
    var source = new EventSource(base + '/api/events?' + rows.dataset.query);
    source.addEventListener('ready', function () { rows.dataset.connected = 'yes'; });
    source.addEventListener('entry', function (ev) {
      var e = JSON.parse(ev.data);
      var tr = document.createElement('tr');
      tr.dataset.id = e.id; tr.className = e.status.toLowerCase() + ' live';
      var td = document.createElement('td'); var a = el('a', e.timestamp.replace('T', ' ').slice(0, 19)); a.href = base + '/activity/' + encodeURIComponent(e.id); td.appendChild(a); tr.appendChild(td);
      [e.agent_id || '\\u2014', e.identity_level, e.source, e.method, e.domain || '', e.secret_keys.join(', '), e.status, e.status_code === null ? '' : e.status_code, e.reason || '', e.redacted ? 'yes' : ''].forEach(function (v) { tr.appendChild(el('td', v)); });
      rows.insertBefore(tr, rows.firstChild);
      // A page left open keeps the newest LIVE_ROWS rows (older ones are a click on Activity away).
      while (rows.rows.length > LIVE_ROWS) rows.deleteRow(rows.rows.length - 1);
      var empty = document.getElementById('empty'); if (empty) empty.remove();
    });
    source.onerror = function () { var s = document.getElementById('live-state'); if (s) s.textContent = 'Live updates paused (reconnecting).'; };
  }

  // Approvals: a badge on every page, live cards on the Approvals page.
  var badge = document.getElementById('pending-badge');
  var list = document.getElementById('pending');
  function hidden(name, value) { var i = document.createElement('input'); i.type = 'hidden'; i.name = name; i.value = value; return i; }
  function card(p) {
    var art = el('article', null, 'pending'); art.dataset.id = p.id;
    var line = el('p'); line.appendChild(el('strong', p.agent || '(anonymous)')); line.appendChild(document.createTextNode(' (' + p.identity_level + ', via ' + p.source + ') wants '));
    line.appendChild(el('strong', p.method + ' ' + p.host + p.path)); line.appendChild(document.createTextNode(' with '));
    if (p.secret_keys.length === 0) line.appendChild(document.createTextNode('no secret'));
    else { line.appendChild(el('strong', p.secret_keys.join(', '))); line.appendChild(document.createTextNode(' of ')); line.appendChild(el('strong', p.project + '/' + p.environment)); }
    line.appendChild(document.createTextNode('.'));
    art.appendChild(line);
    var why = el('p', 'In workspace ', 'muted'); why.appendChild(el('strong', p.workspace));
    why.appendChild(document.createTextNode('. ' + (p.reason === 'unlisted' ? 'The domain is not in its allowlist.' : 'Rule ' + p.reason.slice(5) + ' asks for approval.') + ' Waits until ' + p.expires_at.slice(11, 19) + ' UTC.'));
    art.appendChild(why);
    var actions = el('div', null, 'actions');
    var choices = [['approve_once', 'Approve once', '']];
    if (p.reason === 'unlisted') choices.push(['approve_and_allow', 'Approve and add to the allowlist', '']);
    if (p.secret_keys.length > 0) choices.push(['approve_and_bind', 'Approve and bind ' + p.secret_keys.join(', ') + ' (' + p.project + '/' + p.environment + ') to this host', '']);
    choices.push(['deny', 'Deny', 'danger']);
    choices.forEach(function (c) {
      var f = document.createElement('form'); f.method = 'post'; f.action = base + '/approvals/' + encodeURIComponent(p.id);
      f.appendChild(hidden('_csrf', csrf)); f.appendChild(hidden('decision', c[0]));
      if (strict) { var pw = document.createElement('input'); pw.type = 'password'; pw.name = 'passphrase'; pw.placeholder = 'vault passphrase'; pw.required = true; pw.autocomplete = 'off'; f.appendChild(pw); }
      var b = el('button', c[1], c[2]); b.type = 'submit'; b.dataset.decision = c[0]; f.appendChild(b); actions.appendChild(f);
    });
    art.appendChild(actions);
    return art;
  }
  // A snapshot first, then one event per held or decided call; at most SHOWN cards at a time.
  var SHOWN = 50;
  var total = 0;
  function cards() { return list ? list.querySelectorAll('article.pending') : []; }
  function shownIds() { var ids = {}; Array.prototype.forEach.call(cards(), function (a) { ids[a.dataset.id] = a; }); return ids; }
  function add(p) { if (!list || shownIds()[p.id] || cards().length >= SHOWN) return; list.appendChild(card(p)); }
  function refresh() {
    if (badge) { badge.hidden = total === 0; badge.textContent = total + ' waiting'; }
    if (!list) return;
    var none = document.getElementById('none-pending');
    if (total === 0 && !none) { none = el('p', 'Nothing is waiting.', 'muted'); none.id = 'none-pending'; list.appendChild(none); }
    if (total > 0 && none) none.remove();
    var more = document.getElementById('more-pending'); var n = total - cards().length;
    if (more) { more.hidden = n <= 0; more.textContent = n > 0 ? n + ' more waiting (shown as these are decided).' : ''; }
  }
  var refilling = false;
  function refill() {
    // Cards went and more wait than are shown: fetch the first SHOWN again.
    if (!list || refilling || cards().length >= Math.min(total, SHOWN)) return;
    refilling = true;
    fetch(base + '/api/approvals').then(function (r) { return r.json(); }).then(function (pending) { pending.forEach(add); refilling = false; refresh(); }, function () { refilling = false; });
  }
  var approvals = new EventSource(base + '/api/approvals/events');
  approvals.addEventListener('snapshot', function (ev) {
    var d = JSON.parse(ev.data); total = d.total;
    if (list) {
      var keep = {}; d.pending.forEach(function (p) { keep[p.id] = true; });
      var shown = shownIds(); Object.keys(shown).forEach(function (id) { if (!keep[id]) shown[id].remove(); });
      d.pending.forEach(add);
    }
    refresh();
  });
  approvals.addEventListener('held', function (ev) { var d = JSON.parse(ev.data); total = d.total; add(d.approval); refresh(); });
  approvals.addEventListener('decided', function (ev) {
    var d = JSON.parse(ev.data); total = d.total;
    var gone = shownIds()[d.id]; if (gone) gone.remove();
    refresh(); refill();
  });

  // Overview: numbers and charts from /api/overview.
  var calls = document.getElementById('chart-calls');
  if (calls) {
    fetch(base + '/api/overview', { headers: { 'x-csrf-token': csrf } }).then(function (r) { return r.json(); }).then(function (d) {
      var cards = document.getElementById('cards'); cards.textContent = '';
      if (!d.ready) cards.appendChild(el('p', 'Still counting the log (it is read once when the dashboard starts): reload in a moment for the full picture.', 'muted'));
      [['Entries', d.entries], ['OK', d.byStatus.OK || 0], ['Blocked', d.byStatus.BLOCKED || 0], ['Errors', d.byStatus.ERROR || 0], ['Since', d.first ? d.first.slice(0, 16).replace('T', ' ') : '\\u2014']].forEach(function (c) {
        var div = el('div', null, 'card'); div.appendChild(el('span', c[0], 'label')); div.appendChild(el('span', c[1], 'value')); cards.appendChild(div);
      });
      function fill(id, rowsData) { var tb = document.querySelector('#' + id + ' tbody'); rowsData.forEach(function (r) { var tr = document.createElement('tr'); tr.appendChild(el('td', r[0])); tr.appendChild(el('td', r[1])); tb.appendChild(tr); }); }
      fill('top-domains', d.topDomains.map(function (t) { return [t.domain, t.count]; }));
      fill('levels', Object.keys(d.levels).map(function (k) { return [k, d.levels[k]]; }));
      if (typeof uPlot === 'undefined' || d.hours.length === 0) return;
      var colors = ['#2f6fde', '#e0803a', '#3aa45b', '#b04fc4', '#c7a400', '#d4494b', '#3bb5b5', '#7a7a7a', '#555555'];
      var stacked = []; var acc = d.hours.map(function () { return 0; });
      d.agents.forEach(function (a) { acc = acc.map(function (v, i) { return v + a.calls[i]; }); stacked.push(acc.slice()); });
      var width = Math.max(320, calls.clientWidth || 800);
      // Stacked: each band is drawn as the running total, the largest first so the smaller
      // ones are painted over it.
      var bands = d.agents.map(function (a, i) { return { label: a.name, stroke: colors[i % colors.length], fill: colors[i % colors.length] + 'aa' }; }).reverse();
      new uPlot({ width: width, height: 240, series: [{}].concat(bands), axes: [{}, {}] }, [d.hours].concat(stacked.reverse()), calls);
      new uPlot({ width: width, height: 200, series: [{}, { label: 'blocked', stroke: '#d4494b' }, { label: 'redacted', stroke: '#c7a400' }] }, [d.hours, d.blocks, d.redactions], document.getElementById('chart-blocks'));
    });
  }
})();
`;

export const CLIENT_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1rem; background: #1d2733; color: #fff; }
header nav a { color: #cfd8e3; margin-right: .8rem; text-decoration: none; }
header nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #fff; }
main { padding: 1rem 1.5rem; }
.badge { background: #445; color: #fff; border-radius: 1rem; padding: .1rem .6rem; font-size: 12px; }
.badge.warn { background: #c0392b; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e5e5e5; vertical-align: top; }
tr.blocked td { background: #fff1f0; } tr.error td { background: #fff8e6; } tr.live td { font-weight: 600; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .6rem; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
.muted { color: #666; } .good { color: #1e7b34; } .bad { color: #b3261e; font-weight: 600; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { background: #fff; border: 1px solid #e5e5e5; border-radius: 6px; padding: .6rem 1rem; display: flex; flex-direction: column; }
.card .label { font-size: 12px; color: #666; } .card .value { font-size: 20px; font-weight: 600; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.chart { background: #fff; border: 1px solid #e5e5e5; min-height: 120px; }
article.pending { background: #fff; border: 2px solid #c0392b; border-radius: 6px; padding: .6rem 1rem; margin-bottom: .8rem; }
.actions { display: flex; gap: .5rem; } form { display: inline; } form.inline { display: flex; gap: .4rem; margin-top: .5rem; }
button, .button { padding: .3rem .8rem; border: 1px solid #2f6fde; background: #2f6fde; color: #fff; border-radius: 4px; cursor: pointer; text-decoration: none; display: inline-block; }
button.danger { background: #b3261e; border-color: #b3261e; }
pre { background: #fff; border: 1px solid #ccc; padding: .5rem; overflow-x: auto; }
`;
