// llmrouter cost dashboard: reads /v1/usage (or /admin/usage for one
// tenant) and /readyz, and draws them with the vendored uPlot.
(function () {
  "use strict";
  var body = document.body;
  function countError() { body.dataset.errors = String(Number(body.dataset.errors) + 1); }
  window.addEventListener("error", countError);
  window.addEventListener("unhandledrejection", countError);
  var origError = console.error;
  console.error = function () { countError(); origError.apply(console, arguments); };

  var $ = function (id) { return document.getElementById(id); };
  var DAY = 86400;
  var colors = ["#3b6fd8", "#e8833a", "#2e9e6a", "#c4453c", "#8a5cc2", "#7a8597", "#d4a72c", "#1fa3b5", "#b55a8c", "#5b7d2e"];
  var charts = {};
  var timer = null;

  function iso(d) { return d.toISOString().slice(0, 10); }
  function init() {
    var params = new URLSearchParams(location.search);
    var to = new Date(); to.setUTCHours(0, 0, 0, 0);
    var from = new Date(to.getTime() - 13 * DAY * 1000);
    $("from").value = params.get("from") || iso(from);
    $("to").value = params.get("to") || iso(to);
    $("key").value = params.get("key") || localStorage.getItem("llmrouter-key") || "";
    $("tenant").value = params.get("tenant") || "";
    $("controls").addEventListener("submit", function (e) { e.preventDefault(); refresh(); });
    $("csv").addEventListener("click", downloadCSV);
    $("auto").addEventListener("change", schedule);
    window.addEventListener("resize", function () { for (var k in charts) { sizeChart(charts[k], k); } });
    refresh();
    schedule();
  }
  function schedule() {
    if (timer) { clearInterval(timer); timer = null; }
    if ($("auto").checked) { timer = setInterval(refresh, 30000); }
  }
  function headers() {
    var k = $("key").value.trim();
    if (k) { localStorage.setItem("llmrouter-key", k); return { "Authorization": "Bearer " + k }; }
    return {};
  }
  function range() {
    var from = new Date($("from").value + "T00:00:00Z");
    var to = new Date($("to").value + "T00:00:00Z");
    to = new Date(to.getTime() + DAY * 1000); // the "to" day is included
    return { from: from, to: to, days: Math.max(1, Math.round((to - from) / (DAY * 1000))) };
  }
  function url(r, groupBy, extra) {
    var t = $("tenant").value.trim();
    var base = t ? "/admin/usage?tenant=" + encodeURIComponent(t) + "&" : "/v1/usage?";
    return base + "from=" + r.from.toISOString().replace(".000", "") + "&to=" + r.to.toISOString().replace(".000", "") +
      "&group_by=" + groupBy + "&granularity=" + (r.days <= 2 ? "hour" : "day") + (extra || "");
  }
  function get(u) {
    return fetch(u, { headers: headers() }).then(function (resp) {
      return resp.json().then(function (j) {
        if (!resp.ok) { throw new Error((j.error && j.error.message) || ("HTTP " + resp.status)); }
        return j;
      });
    });
  }
  function refresh() {
    var r = range();
    var prev = { from: new Date(r.from.getTime() - (r.to - r.from)), to: r.from, days: r.days };
    $("status").className = "status";
    $("status").textContent = "loading…";
    Promise.all([get(url(r, "model")), get(url(prev, "model")), get(url(r, "tier")), get(url(r, "tenant")), get(url(r, "key")),
      fetch("/readyz").then(function (x) { return x.json(); }).catch(function () { return null; })])
      .then(function (res) {
        render(r, res[0], res[1], res[2], res[3], res[4], res[5]);
        $("status").textContent = "updated " + new Date().toLocaleTimeString() + " · figures from " + res[0].store +
          (res[0].store === "memory" ? " (this replica only, lost on restart)" : "");
        body.dataset.loaded = "1";
      })
      .catch(function (e) {
        $("status").className = "status err";
        $("status").textContent = "could not load usage: " + e.message + " (enter a key above)";
      });
  }
  function downloadCSV() {
    fetch(url(range(), "model", "&format=csv"), { headers: headers() }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.blob();
    }).then(function (b) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(b);
      a.download = "llmrouter-usage-" + $("from").value + "-" + $("to").value + ".csv";
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
    }).catch(function (e) { $("status").className = "status err"; $("status").textContent = "CSV export failed: " + e.message; });
  }

  function usd(v) {
    if (v === null || v === undefined) { return "-"; }
    if (Math.abs(v) >= 100) { return "$" + v.toFixed(0); }
    if (Math.abs(v) >= 1) { return "$" + v.toFixed(2); }
    return "$" + v.toFixed(v === 0 ? 2 : 6);
  }
  function num(v) { return v >= 1e6 ? (v / 1e6).toFixed(2) + "M" : v >= 1e4 ? (v / 1e3).toFixed(1) + "k" : String(v); }
  function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(1) + "%" : "-"; }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" }[c]; }); }

  function buckets(r, rep) {
    var step = rep.granularity === "hour" ? 3600 : DAY;
    var xs = [];
    for (var t = r.from.getTime() / 1000; t < r.to.getTime() / 1000; t += step) { xs.push(t); }
    return { xs: xs, step: step, index: function (p) { return Math.round((Date.parse(p) / 1000 - xs[0]) / step); } };
  }
  function render(r, rep, prev, tiers, tenants, keys, ready) {
    var t = rep.totals;
    var kpis = [
      ["Spend", usd(t.cost_usd)], ["Requests", num(t.requests)], ["Cache hit rate", pct(t.cache_hits, t.requests)],
      ["Saved by cache", usd(t.cache_savings_usd)], ["Saved by routing", usd(t.routing_savings_usd)],
      ["Error rate", pct(t.errors, t.requests)], ["Tokens", num(t.prompt_tokens + t.completion_tokens)],
      ["Previous period", usd(prev.totals.cost_usd)], ["Unpriced requests", num(t.unpriced_requests)]];
    $("kpis").innerHTML = kpis.map(function (k) { return "<div class=kpi><b>" + esc(k[1]) + "</b><span>" + esc(k[0]) + "</span></div>"; }).join("");

    var b = buckets(r, rep);
    var n = b.xs.length;
    var models = rep.groups.map(function (g) { return g.group; });
    var per = {};
    models.forEach(function (m) { per[m] = new Array(n).fill(0); });
    var reqs = new Array(n).fill(0), toks = new Array(n).fill(0), hits = new Array(n).fill(0), errs = new Array(n).fill(0);
    rep.series.forEach(function (p) {
      var i = b.index(p.period);
      if (i < 0 || i >= n) { return; }
      per[p.group][i] += p.cost_usd;
      reqs[i] += p.requests; toks[i] += p.prompt_tokens + p.completion_tokens; hits[i] += p.cache_hits; errs[i] += p.errors;
    });
    var pb = buckets({ from: new Date(r.from.getTime() - (r.to - r.from)), to: r.from }, prev);
    var prevTotal = new Array(n).fill(null);
    prev.series.forEach(function (p) {
      var i = pb.index(p.period);
      if (i >= 0 && i < n) { prevTotal[i] = (prevTotal[i] || 0) + p.cost_usd; }
    });
    // Stacked bars: cumulative sums drawn from the top down.
    var cum = [], acc = new Array(n).fill(0);
    models.forEach(function (m) { acc = acc.map(function (v, i) { return v + per[m][i]; }); cum.push(acc.slice()); });
    var spendSeries = [{}], spendData = [b.xs];
    for (var i = models.length - 1; i >= 0; i--) {
      var c = colors[i % colors.length];
      spendSeries.push({ label: models[i], stroke: c, fill: c, paths: uPlot.paths.bars({ size: [0.7, 60] }), value: stackedValue(per[models[i]]) });
      spendData.push(cum[i]);
    }
    spendSeries.push({ label: "previous period", stroke: "#1d2330", dash: [5, 4], width: 1.5, value: function (u, v) { return usd(v); } });
    spendData.push(prevTotal);
    draw("chart-spend", { series: spendSeries, axes: [{}, { values: function (u, vs) { return vs.map(usd); }, size: 84 }] }, spendData, rep.granularity);

    draw("chart-traffic", {
      series: [{}, { label: "requests", stroke: colors[0], fill: "rgba(59,111,216,0.15)", scale: "r" },
        { label: "tokens", stroke: colors[1], scale: "t" }],
      axes: [{}, { scale: "r" }, { scale: "t", side: 1, grid: { show: false }, values: function (u, vs) { return vs.map(num); } }]
    }, [b.xs, reqs, toks], rep.granularity);

    var hitRate = reqs.map(function (q, i) { return q > 0 ? 100 * hits[i] / q : null; });
    var errRate = reqs.map(function (q, i) { return q > 0 ? 100 * errs[i] / q : null; });
    draw("chart-rates", {
      series: [{}, { label: "cache hit %", stroke: colors[2], spanGaps: true }, { label: "error %", stroke: colors[3], spanGaps: true }],
      scales: { y: { range: [0, 100] } }
    }, [b.xs, hitRate, errRate], rep.granularity);

    $("savings").innerHTML = bars([["by cache", t.cache_savings_usd], ["by routing", t.routing_savings_usd], ["spent", t.cost_usd],
      ["routing baseline", t.routing_baseline_usd]], usd) +
      "<p class=status>Routing baseline: what the routed requests would have cost on the baseline model.</p>";
    $("tiers").innerHTML = bars(tiers.groups.map(function (g) { return [g.group || "pinned", g.requests]; }), function (v) {
      return v + " (" + pct(v, tiers.totals.requests) + ")";
    });
    $("latency").innerHTML = table(["model", "requests", "p50", "p95", "ttft p50", "ttft p95", "errors", "spend"], rep.groups.map(function (g) {
      return [g.group, g.requests, g.latency_p50_ms, g.latency_p95_ms, g.ttft_p50_ms, g.ttft_p95_ms, pct(g.errors, g.requests),
        g.unpriced_requests > 0 && g.cost_usd === 0 ? "unpriced" : usd(g.cost_usd)];
    }));
    $("tenants").innerHTML = topTable("tenant", tenants);
    $("keys").innerHTML = topTable("key", keys);
    var rows = [];
    if (ready && ready.checks) {
      Object.keys(ready.checks).sort().forEach(function (k) {
        rows.push([k.replace(/^target:/, ""), "<span class=\"state-" + esc(ready.checks[k].split(",")[0]) + "\">" + esc(ready.checks[k]) + "</span>"]);
      });
    }
    $("breakers").innerHTML = rows.length ? table(["target", "state"], rows, true) : "<p class=status>no readiness data</p>";
  }
  function stackedValue(own) {
    return function (u, v, si, i) { return i === null || i === undefined ? "-" : usd(own[i]); };
  }
  function bars(items, fmt) {
    var max = Math.max.apply(null, items.map(function (x) { return Math.abs(x[1]); }).concat([1e-12]));
    return items.map(function (x) {
      return "<div class=bar><span>" + esc(x[0]) + "</span><i style=\"width:" + (100 * Math.abs(x[1]) / max * 0.6).toFixed(1) + "%\"></i>" + esc(fmt(x[1])) + "</div>";
    }).join("") || "<p class=status>no data</p>";
  }
  function table(head, rows, raw) {
    return "<table><tr>" + head.map(function (h) { return "<th>" + esc(h) + "</th>"; }).join("") + "</tr>" + rows.map(function (r) {
      return "<tr>" + r.map(function (c, i) { return "<td>" + (raw && i > 0 ? c : esc(c)) + "</td>"; }).join("") + "</tr>";
    }).join("") + "</table>";
  }
  function topTable(what, rep) {
    return table([what, "requests", "spend", "cache hits"], rep.groups.slice(0, 10).map(function (g) {
      return [g.group || "(none)", g.requests, usd(g.cost_usd), pct(g.cache_hits, g.requests)];
    }));
  }
  function sizeChart(u, id) {
    var el = $(id);
    u.setSize({ width: Math.max(200, el.clientWidth), height: 220 });
  }
  function draw(id, opts, data, granularity) {
    var el = $(id);
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    opts.width = Math.max(200, el.clientWidth);
    opts.height = 220;
    opts.scales = opts.scales || {};
    opts.scales.x = { time: true };
    opts.legend = { live: true };
    if (!opts.axes) { opts.axes = [{}, {}]; }
    opts.axes[0].values = granularity === "hour" ? "{HH}:{mm}" : "{MMM} {D}";
    charts[id] = new uPlot(opts, data, el);
    var drawn = 0;
    for (var k in charts) { drawn++; }
    body.dataset.charts = String(drawn);
  }
  init();
})();
