"""The report's CSS and JavaScript, inlined into index.html (no server, no network, no CDN)."""

CSS = """
:root { --fg:#1d232b; --muted:#5b6675; --line:#d9dee5; --bg:#f6f7f9; --card:#fff;
        --flag:#b3261e; --flagbg:#fde7e5; --ok:#1b6e3a; --okbg:#e3f3e8; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#1d2b3a; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header p { margin:0; color:#c8d2de; }
main { padding:8px 28px 40px; max-width:1600px; }
h2 { font-size:18px; margin:28px 0 10px; padding-bottom:4px; border-bottom:2px solid var(--line); }
h3 { font-size:15px; margin:16px 0 6px; }
.summary { display:flex; gap:12px; flex-wrap:wrap; margin-top:16px; }
.stat { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 16px;
        min-width:130px; }
.stat b { display:block; font-size:22px; }
.stat span { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.note { color:var(--muted); font-size:12px; }
.gallery { display:grid; grid-template-columns:repeat(auto-fill,minmax(190px,1fr)); gap:12px; }
.card { margin:0; background:var(--card); border:1px solid var(--line); border-radius:8px;
        overflow:hidden; display:flex; flex-direction:column; }
.card.flagged { border-color:#e3a19b; box-shadow:0 0 0 1px #e3a19b inset; }
.card a.thumb { display:block; background:#111; text-align:center; }
.card img { display:block; width:100%; height:240px; object-fit:contain; }
.card figcaption { padding:6px 8px 8px; font-size:12px; }
.card .name { font-weight:600; overflow-wrap:anywhere; }
.badge { display:inline-block; border-radius:10px; padding:0 7px; margin:2px 3px 0 0;
         font-size:11px; background:var(--flagbg); color:var(--flag); white-space:nowrap; }
.badge.ok { background:var(--okbg); color:var(--ok); }
.tablewrap { overflow-x:auto; background:var(--card); border:1px solid var(--line);
             border-radius:8px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 9px; border-bottom:1px solid var(--line); text-align:left;
         vertical-align:top; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
thead th { background:#eef1f5; position:sticky; top:0; white-space:nowrap; }
table.sortable thead th { cursor:pointer; user-select:none; }
table.sortable thead th:hover { background:#e1e7ef; }
th[aria-sort=ascending]::after { content:" \\25B2"; color:var(--accent); }
th[aria-sort=descending]::after { content:" \\25BC"; color:var(--accent); }
tbody tr:nth-child(even) { background:#fafbfc; }
td.path { overflow-wrap:anywhere; min-width:180px; max-width:360px; }
td.na { color:#9aa3ad; }
a { color:var(--accent); }
td.nowrap { white-space:nowrap; }
.evalgrid { display:flex; flex-wrap:wrap; gap:6px 28px; align-items:flex-start; }
.evalsection table.eval { margin-bottom:8px; }
table.eval { width:auto; min-width:300px; background:var(--card); border:1px solid var(--line); }
"""

# Sorting: click a header (toggles ascending/descending) or open index.html#sort=KEY:asc|desc.
# Cells carry data-sort (number or text); empty values sort last in both directions.
JS = """
(function () {
  var table = document.getElementById('results');
  if (!table) { return; }
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function value(row, index, numeric) {
    var raw = row.cells[index].getAttribute('data-sort');
    if (raw === null || raw === '') { return null; }
    if (numeric) { var n = parseFloat(raw); return isNaN(n) ? null : n; }
    return raw.toLowerCase();
  }
  function sortBy(key, direction) {
    var index = -1;
    headers.forEach(function (th, i) { if (th.getAttribute('data-key') === key) { index = i; } });
    if (index < 0) { return false; }
    var numeric = headers[index].getAttribute('data-type') === 'number';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var sign = direction === 'desc' ? -1 : 1;
    rows.forEach(function (row, i) { row._order = i; });
    rows.sort(function (a, b) {
      var x = value(a, index, numeric), y = value(b, index, numeric);
      if (x === null && y === null) { return a._order - b._order; }
      if (x === null) { return 1; }
      if (y === null) { return -1; }
      if (x < y) { return -sign; }
      if (x > y) { return sign; }
      return a._order - b._order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    headers.forEach(function (th) { th.removeAttribute('aria-sort'); });
    headers[index].setAttribute('aria-sort', direction === 'desc' ? 'descending' : 'ascending');
    table.setAttribute('data-sorted', key + ':' + direction);
    return true;
  }
  headers.forEach(function (th) {
    th.addEventListener('click', function () {
      var key = th.getAttribute('data-key');
      var direction = th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc';
      if (sortBy(key, direction) && window.history && history.replaceState) {
        history.replaceState(null, '', '#sort=' + encodeURIComponent(key) + ':' + direction);
      }
    });
  });
  var match = /(?:^#|&)sort=([^&:]+):(asc|desc)/.exec(window.location.hash);
  if (match) { sortBy(decodeURIComponent(match[1]), match[2]); }
})();
"""
