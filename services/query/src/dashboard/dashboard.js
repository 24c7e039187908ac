// The traceledger dashboard: plain browser JavaScript over the public query API (the same
// endpoints any dashboard uses), with the query key kept in sessionStorage. Money and token counts
// are shown with the exact digits the API wrote: numbers are read from the JSON source text
// (JSON.parse source access), never through a float.
(function () {
  'use strict';
  var KEY = 'traceledger.queryKey';
  var $ = function (id) { return document.getElementById(id); };
  var charts = [];
  // Each load gets a number; an answer to an older load (the user changed the period meanwhile) is dropped.
  var generation = 0;

  /** JSON.parse keeping every number as its source text: "4.903116128", never 4.903116128000001. */
  function parseExact(text) {
    return JSON.parse(text, function (_k, v, ctx) {
      return typeof v === 'number' ? (ctx && typeof ctx.source === 'string' ? ctx.source : String(v)) : v;
    });
  }

  function key() { return sessionStorage.getItem(KEY); }

  function askForKey(message) {
    $('key-error').textContent = message || '';
    $('dashboard').hidden = true;
    var dialog = $('key-dialog');
    if (!dialog.open) dialog.showModal();
    $('key').focus();
  }

  function api(path, params) {
    var q = new URLSearchParams(params).toString();
    return fetch(path + (q ? '?' + q : ''), { headers: { authorization: 'Bearer ' + key(), accept: 'application/json' } }).then(function (res) {
      return res.text().then(function (text) {
        var body = text ? parseExact(text) : {};
        if (res.status === 401 || res.status === 403) {
          var e = new Error(body.message || 'the key was refused');
          e.auth = true;
          e.code = body.code;
          throw e;
        }
        if (!res.ok) {
          var err = new Error((body.code ? body.code + ': ' : '') + (body.message || res.statusText));
          throw err;
        }
        return body;
      });
    });
  }

  function money(text) { return '$' + text; }
  function int(text) {
    try { return BigInt(text).toLocaleString('en-US'); } catch (_e) { return text; }
  }
  function sum(a, b) { return (BigInt(a) + BigInt(b)).toString(); }

  function bucketFor(period) {
    return { '24h': 'hour', '7d': 'day', '30d': 'day', '90d': 'week', mtd: 'day', all: 'month' }[period] || 'day';
  }

  function seriesRange(period) {
    if (period !== 'all') return { period: period };
    // "all" has no start, and a series needs one: the chart shows the last twelve months.
    var d = new Date();
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() - 11);
    return { from: d.toISOString().slice(0, 10) };
  }

  function fillTable(id, rows, by) {
    var body = $(id).querySelector('tbody');
    body.textContent = '';
    rows.forEach(function (r) {
      var tr = document.createElement('tr');
      // A row with usage that has no price is flagged, never shown as a plain $0.
      var cost = r.unpricedTokens !== '0' ? (r.cost === '0' ? 'unpriced' : money(r.cost) + '*') : money(r.cost);
      [r[by] === null ? '(none)' : r[by], int(r.sessions), int(sum(r.inputTokens, r.outputTokens)), cost].forEach(function (v) {
        var td = document.createElement('td');
        td.textContent = v;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    if (rows.length === 0) {
      var tr = document.createElement('tr');
      var td = document.createElement('td');
      td.colSpan = 4;
      td.textContent = 'nothing in this range';
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function plot(target, rows, series) {
    var el = $(target);
    el.textContent = '';
    var xs = rows.map(function (r) { return Date.parse(r.bucket) / 1000; });
    var data = [xs].concat(series.map(function (s) { return rows.map(function (r) { return Number(s.value(r)); }); }));
    var opts = {
      width: Math.max(320, el.clientWidth || 480),
      height: 220,
      series: [{}].concat(series.map(function (s) { return { label: s.label, stroke: s.color, fill: s.color + '22', width: 2 }; })),
      axes: [{}, { size: 70 }],
    };
    charts.push(new uPlot(opts, data, el));
  }

  function load() {
    var period = $('period').value;
    var tz = $('tz').value || 'UTC';
    var range = { period: period, tz: tz };
    var series = Object.assign({ tz: tz, bucket: bucketFor(period) }, seriesRange(period));
    var top = function (by) { return api('/api/billing/breakdown', Object.assign({ by: by, limit: '10' }, range)); };
    var mine = ++generation;
    $('error').hidden = true;
    return Promise.all([
      api('/api/billing/summary', range),
      api('/api/analytics/platform', range),
      api('/api/analytics/usage', series),
      top('agent'),
      top('team'),
      top('model'),
    ]).then(function (r) {
      if (mine !== generation) return;
      var summary = r[0], platform = r[1].data, usage = r[2].data;
      charts.forEach(function (c) { c.destroy(); });
      charts = [];
      $('dashboard').hidden = false;
      $('total-cost').textContent = money(summary.totalCost);
      $('range-label').textContent = (platform.from ? platform.from.slice(0, 16).replace('T', ' ') : 'the beginning') + ' → ' + (platform.to ? platform.to.slice(0, 16).replace('T', ' ') : 'now') + ' (UTC)';
      $('total-tokens').textContent = int(summary.totalTokens);
      $('token-split').textContent = int(platform.totalInputTokens) + ' in · ' + int(platform.totalOutputTokens) + ' out';
      $('total-sessions').textContent = int(platform.totalSessions);
      $('active-agents').textContent = int(summary.activeAgents) + ' active agents';
      $('status-split').textContent = int(platform.successCount) + ' / ' + int(platform.errorCount);
      var done = Number(platform.successCount) + Number(platform.errorCount);
      $('success-bar').style.width = (done === 0 ? 0 : (100 * Number(platform.successCount)) / done) + '%';
      $('unpriced').textContent = int(platform.unpricedTokens) + ' tokens in ' + int(platform.unpricedSessions) + ' sessions';
      $('unpriced-card').classList.toggle('flagged', platform.unpricedTokens !== '0');
      plot('cost-chart', usage.rows, [{ label: 'cost', color: '#3366cc', value: function (x) { return x.cost; } }]);
      plot('token-chart', usage.rows, [
        { label: 'input', color: '#3aa76d', value: function (x) { return x.inputTokens; } },
        { label: 'output', color: '#e08a00', value: function (x) { return x.outputTokens; } },
      ]);
      fillTable('top-agent', r[3].data.rows, 'agent');
      fillTable('top-team', r[4].data.rows, 'team');
      fillTable('top-model', r[5].data.rows, 'model');
      document.body.dataset.loaded = String(Date.now());
    }).catch(function (err) {
      if (mine !== generation) return;
      if (err.auth) {
        sessionStorage.removeItem(KEY);
        askForKey('The key was refused' + (err.code ? ' (' + err.code + ')' : '') + ': ' + err.message);
        return;
      }
      $('dashboard').hidden = false;
      $('error').hidden = false;
      $('error').textContent = err.message;
    });
  }

  function start() {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    $('tz').value = zone && (zone === 'UTC' || zone.indexOf('/') > 0) ? zone : 'UTC';
    var list = $('zones');
    (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).concat(['UTC']).forEach(function (z) {
      var o = document.createElement('option');
      o.value = z;
      list.appendChild(o);
    });
    $('key-form').addEventListener('submit', function () {
      sessionStorage.setItem(KEY, $('key').value.trim());
      $('key').value = '';
      load();
    });
    $('forget-key').addEventListener('click', function () {
      sessionStorage.removeItem(KEY);
      askForKey('');
    });
    $('period').addEventListener('change', load);
    $('tz').addEventListener('change', load);
    if (key()) load();
    else askForKey('');
  }

  start();
})();
