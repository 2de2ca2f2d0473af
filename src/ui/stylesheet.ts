/**
 * The status page's one stylesheet, served as `/api/ui/assets/status.css` (the Content-Security-Policy allows styles
 * from the app itself only, never inline). Kept as a module so that it ships inside the compiled package.
 */
export const STATUS_CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #667085; --line: #d9dee7; --bg: #f6f7f9; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; gap: 12px; align-items: baseline; padding: 10px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header.top .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header.top .who { margin-left: auto; color: var(--muted); }
main { padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 8px 0 12px; } h2 { font-size: 17px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 16px 0 6px; }
a { color: var(--accent); }
.muted { color: var(--muted); } .warn { color: var(--warn); } .bad { color: var(--bad); font-weight: 600; }
.id { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); word-break: break-all; }
.counts { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 14px; }
.count { display: inline-block; padding: 10px 14px; background: #fff; border: 1px solid var(--line); border-radius: 8px; text-decoration: none; color: var(--fg); }
.count b { font-size: 20px; margin-right: 4px; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; margin-bottom: 6px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
input, select, button, .button { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--fg); }
button, .button { cursor: pointer; text-decoration: none; display: inline-block; }
.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th a { color: var(--fg); text-decoration: none; } th { font-size: 12px; color: var(--muted); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef1f5; }
.badge-healthy, .run-succeeded { background: #dafbe1; color: var(--ok); }
.badge-failing, .run-failed { background: #ffebe9; color: var(--bad); }
.badge-quarantined { background: var(--bad); color: #fff; }
.badge-disabled, .run-skipped { background: #eef1f5; color: var(--muted); }
.run-partial { background: #fff8c5; color: var(--warn); }
.badge-held, .run-held { background: #fff8c5; color: var(--warn); }
.hold-box { background: #fff8c5; border: 1px solid #e5d27a; border-radius: 6px; padding: 10px 12px; margin: 10px 0; }
section.hold { margin: 10px 0; }
.run-queued, .run-running { background: #ddf4ff; color: var(--accent); }
.pager { display: flex; gap: 16px; margin-top: 10px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 16px; }
dl.facts, dl.counts-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 8px; margin: 0; }
dl.facts div, dl.counts-grid div { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
dt { font-size: 12px; color: var(--muted); } dd { margin: 0; font-weight: 600; }
.error-box { background: #fff5f5; border: 1px solid #f3c4c4; border-radius: 6px; padding: 10px 12px; margin: 10px 0; }
.notice { background: #ddf4ff; border: 1px solid #9ccdf5; border-radius: 6px; padding: 8px 12px; }
ul.errors li { margin-bottom: 6px; }
figure.chart { margin: 0 0 12px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figure.chart svg { width: 100%; max-width: 720px; height: auto; display: block; }
.chart .axis { stroke: var(--muted); stroke-width: 1; }
.chart .tick { font-size: 11px; fill: var(--muted); }
.chart .series polyline { fill: none; stroke-width: 2; }
.series-read polyline, .series-read circle { stroke: #0b5cad; } .series-read circle { fill: #0b5cad; }
.chart .series-read polyline { stroke-width: 6; stroke-opacity: 0.3; }
.series-updated polyline, .series-updated circle { stroke: #1a7f37; } .series-updated circle { fill: #1a7f37; }
.series-failed polyline, .series-failed circle { stroke: #cf222e; } .series-failed circle { fill: #cf222e; }
.key { margin-right: 12px; font-size: 12px; } .key::before { content: ""; display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.key-read::before { background: #0b5cad; } .key-updated::before { background: #1a7f37; } .key-failed::before { background: #cf222e; }
pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow: auto; font-size: 12px; }
form.signin { display: flex; gap: 10px; align-items: end; }
form button + .button { margin-left: 8px; }
form.signin label { display: flex; flex-direction: column; gap: 2px; }
`;
