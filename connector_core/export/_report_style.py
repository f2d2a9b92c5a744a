"""The report's style sheet, inline in every page (see
:mod:`connector_core.export.report`): kept apart so the page's structure
reads without two hundred lines of CSS in between."""

from __future__ import annotations

from typing import Final


__all__ = ["STYLE"]

STYLE: Final = """
:root {
  --bg: #f5f6f8; --card: #ffffff; --text: #1d2330; --muted: #667085;
  --border: #e4e7ec; --grid: #eef0f3; --accent: #3d6fd9; --accent-2: #9db7ee;
  --line: #0e8a7d; --warn: #d98a0b; --danger: #d2463c;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #101318; --card: #181c23; --text: #e6e8ec; --muted: #9aa3b2;
    --border: #283040; --grid: #222936; --accent: #6d95ec; --accent-2: #3a5286;
    --line: #35c3b2; --warn: #f0a83a; --danger: #ef6b61;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
    Arial, "Noto Sans", sans-serif;
  -webkit-font-smoothing: antialiased;
}
main { max-width: 1120px; margin: 0 auto; padding: 32px 24px 48px; }
header.page { display: flex; flex-wrap: wrap; justify-content: space-between;
  align-items: flex-end; gap: 8px 24px; margin-bottom: 24px; }
h1 { font-size: 26px; line-height: 1.2; margin: 0 0 4px; font-weight: 650; }
h2 { font-size: 18px; margin: 36px 0 12px; font-weight: 620; }
h3 { font-size: 13px; margin: 0 0 12px; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: .06em; }
.sub, .meta, .note { color: var(--muted); }
.meta { font-size: 12px; margin: 0; }
.sub { margin: 0; }
.kpis { display: grid; gap: 16px; margin-bottom: 16px;
  grid-template-columns: repeat(auto-fit, minmax(min(150px, 100%), 1fr)); }
.grid { display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fit, minmax(min(440px, 100%), 1fr)); }
.card { background: var(--card); border: 1px solid var(--border);
  border-radius: 10px; padding: 18px 20px; min-width: 0; }
.wide { grid-column: 1 / -1; }
.kpi .label { font-size: 12px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .06em; }
.kpi .value { font-size: 28px; font-weight: 650; margin-top: 2px;
  font-variant-numeric: tabular-nums; }
.kpi .value.small { font-size: 18px; padding-top: 8px; }
.kpi .hint { font-size: 12px; color: var(--muted); }
svg { display: block; width: 100%; height: auto; overflow: visible; }
.scroll { overflow-x: auto; }
.scroll > svg { min-width: 640px; }
svg text { fill: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
svg text.label { fill: var(--text); }
svg text.users { fill: var(--line); }
.bar { fill: var(--accent); }
.bar.risk-elevated { fill: var(--warn); }
.bar.risk-high { fill: var(--danger); }
.bar.secondary { fill: var(--accent-2); }
g.row:hover .bar, rect.bar:hover { opacity: .78; }
.gridline { stroke: var(--grid); stroke-width: 1; }
.axis { stroke: var(--border); stroke-width: 1; }
.trend { fill: none; stroke: var(--line); stroke-width: 2; stroke-linejoin: round; }
.trend.dense { stroke-width: 1.25; }
.dot { fill: var(--card); stroke: var(--line); stroke-width: 1.5; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 10px 0 0;
  font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; background: var(--accent); }
.swatch.bar-swatch { background: var(--accent); }
.swatch.line { height: 2px; vertical-align: 3px; background: var(--line); }
.swatch.warn { background: var(--warn); }
.swatch.danger { background: var(--danger); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums;
  margin-top: 12px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--border); text-align: left;
  overflow-wrap: break-word; }
th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
.num { text-align: right; white-space: nowrap; }
details { margin-top: 12px; }
summary { cursor: pointer; color: var(--muted); font-size: 13px; }
.empty { color: var(--muted); font-style: italic; margin: 8px 0; }
.security { margin-bottom: 16px; }
.security .note { font-size: 12px; margin: 0; }
.badge { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px;
  font-size: 11px; font-weight: 650; line-height: 18px; vertical-align: 1px; }
.badge.ai { background: var(--danger); color: #fff; }
.who { color: var(--muted); }
.email, time, .events-link { white-space: nowrap; }
.score { display: inline-block; min-width: 28px; padding: 0 6px; border-radius: 8px;
  font-weight: 650; text-align: center; }
.score.high { background: var(--danger); color: #fff; }
.score.medium { background: var(--warn); color: #fff; }
.score.low { background: var(--grid); }
.sensitive { color: var(--danger); }
#security > h2 { margin-top: 8px; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); }
@media (max-width: 520px) {
  main { padding: 20px 12px 32px; }
  .card { padding: 14px; }
}
@media print {
  body { background: #fff; }
  .card { break-inside: avoid; }
  main { padding: 0; }
}
"""
