"""``report.html``: one self-contained file (no network needed to view it).

It holds the summary numbers and figure, a sortable and filterable table of every movie, and each
movie's trajectories; clicking a movie draws its overlay in the browser (SVG) with the same
information as the PNG. The table and the trajectories are embedded zlib-compressed and base64
encoded, and inflated by the browser's own DecompressionStream. Trajectories are stored
compactly (zigzag varints): the frame
numbers as a first frame and count when consecutive, the reference quantised to 0.01 px and
delta-encoded, the fitted secondary as its quantised difference from the reference.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .consensus import (
    AUTO_RMSE_FLOOR_PX,
    AUTO_RMSE_K,
    AUTO_RMSE_MIN_MOVIES,
    INVALID_REASONS,
    REASONS,
)
from .outputs.atomic import write_text
from .records import Row

QUANTUM = 0.01
TABLE_FIELDS = ("movie", "decision", "reason", "corr", "corr_x", "corr_y", "rmse_px",
                "max_error_px", "range_ref_px", "range_sec_px", "frames", "pixel_size_A",
                "plot_path", "range_ref_x_px", "range_ref_y_px", "range_sec_x_px",
                "range_sec_y_px", "motion_total_A", "motion_early_A", "base_reason", "acquired",
                "message")


def _varints(values: np.ndarray) -> bytes:
    zigzag = ((values << 1) ^ (values >> 63)).astype(np.uint64)
    out = bytearray()
    for value in zigzag.tolist():
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def encode_overlay(frames: np.ndarray, reference: np.ndarray, fitted: np.ndarray) -> bytes:
    """Frames, reference x/y and fitted secondary x/y of one movie, in a few bytes per frame.

    Layout: n, first frame, consecutive flag, [frame deltas if not consecutive], reference x and
    y deltas, then (secondary - reference) x and y, all in units of `QUANTUM`.
    """
    frames = np.asarray(frames, dtype=np.int64)
    n = len(frames)
    consecutive = bool(n and np.array_equal(frames, np.arange(frames[0], frames[0] + n)))
    ref = np.rint(np.asarray(reference, dtype=float) / QUANTUM).astype(np.int64)
    sec = np.rint(np.asarray(fitted, dtype=float) / QUANTUM).astype(np.int64)
    parts = [np.array([n, frames[0] if n else 0, int(consecutive)], dtype=np.int64)]
    if not consecutive:
        parts.append(np.diff(frames, prepend=0))
    parts += [np.diff(ref[:, 0], prepend=0), np.diff(ref[:, 1], prepend=0),
              sec[:, 0] - ref[:, 0], sec[:, 1] - ref[:, 1]]
    return _varints(np.concatenate(parts))


def decode_overlay(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of `encode_overlay` (the report's JavaScript does the same)."""
    values, shift, current = [], 0, 0
    for byte in blob:
        current |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        values.append((current >> 1) ^ -(current & 1))
        current, shift = 0, 0
    n, first, consecutive = values[:3]
    rest = values[3:]
    if consecutive:
        frames = np.arange(first, first + n)
    else:
        frames, rest = np.cumsum(rest[:n]), rest[n:]
    ref = np.column_stack([np.cumsum(rest[:n]), np.cumsum(rest[n: 2 * n])])
    sec = ref + np.column_stack([rest[2 * n: 3 * n], rest[3 * n: 4 * n]])
    return np.asarray(frames), ref * QUANTUM, sec * QUANTUM


def row_overlay(row: Row) -> bytes | None:
    if row.reference_shifts is None or row.secondary_fitted is None:
        return None
    frames = (row.sample_frames if row.sample_frames is not None
              else np.arange(1, len(row.reference_shifts) + 1))
    return encode_overlay(frames, np.asarray(row.reference_shifts),
                          np.asarray(row.secondary_fitted))


_EXACT = {"corr", "corr_x", "corr_y", "rmse_px", "max_error_px", "range_ref_x_px",
          "range_ref_y_px", "range_sec_x_px", "range_sec_y_px", "pixel_size_A",
          "motion_total_A", "motion_early_A"}
"""Fields the page re-decides from: kept exact, so that its decisions are the CLI's."""
_TIMESTAMP = re.compile(r"(20\d{2})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})")
METRIC_HELP = {
    "corr": "score: the lower of the x and y correlations, over the axes that move",
    "corr_x": "how well the x trajectories match in shape (1 = same shape)",
    "corr_y": "how well the y trajectories match in shape (1 = same shape)",
    "rmse_A": "average distance between the two trajectories (root mean square, Å)",
    "max_error_A": "largest distance between them in any frame (Å)",
    "range_ref_px": "how far the reference moved (largest extent over x and y, px)",
    "motion_total_A": "the reference's accumulated motion over all frames (Å)",
    "frames": "frames compared",
}


def _number(value: object, exact: bool = False) -> object:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return value if exact else float(f"{value:.4g}")
    return value


def acquired(name: str) -> str | None:
    """The acquisition time in an EPU-style name (``..._YYYYMMDD_HHMMSS``), if any."""
    found = _TIMESTAMP.search(name)
    if not found:
        return None
    y, mo, d, h, mi, se = found.groups()
    return f"{y}-{mo}-{d} {h}:{mi}:{se}"


def _cell(row: Row, field: str, reasons: dict[str, int]) -> object:
    if field == "decision":
        return int(row.accepted)
    if field in ("reason", "base_reason"):
        value = row.reason if field == "reason" else (row.decided_reason or row.reason)
        return reasons.setdefault(value, len(reasons))
    if field == "plot_path":
        return row.plot_path or 0
    if field == "acquired":
        return acquired(row.movie_name or row.movie)
    if field == "message":
        return row.message or 0
    return _number(getattr(row, field), field in _EXACT)


def build_report(rows: list[Row], overlays: dict[str, bytes], summary: dict[str, Any],
                 summary_png: bytes | None, created: str | None = None) -> str:
    table = []
    blob = bytearray()
    reasons: dict[str, int] = {}
    for row in rows:
        data = overlays.get(row.movie)
        start = len(blob)
        if data:
            blob += data
        table.append([_cell(row, f, reasons) for f in TABLE_FIELDS] + [start, len(blob) - start])
    params = summary["parameters"]
    sizes = [r.pixel_size_A for r in rows if math.isfinite(r.pixel_size_A)]
    summary = {**summary, "median_pixel_size_A": float(np.median(sizes)) if sizes else None}
    rules = {"fit": params["fit"], "k": AUTO_RMSE_K, "floor_px": AUTO_RMSE_FLOOR_PX,
             "min_movies": AUTO_RMSE_MIN_MOVIES, "invalid": list(INVALID_REASONS),
             "nan_reason": "nan_correlation" if params["fit"] == "xmipp" else "low_correlation",
             "reasons": REASONS, "metrics": METRIC_HELP}
    payload = {"fields": [*TABLE_FIELDS, "offset", "length"], "rows": table,
               "reasons": list(reasons), "summary": summary, "quantum": QUANTUM,
               "rules": rules, "created": created or "", "live": _live(summary)}
    data_json = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    image = (f'<img alt="summary figures" src="data:image/png;base64,'
             f'{base64.b64encode(summary_png).decode()}">' if summary_png else "")
    return (_TEMPLATE.replace("%FACTS%", _facts(summary, created))
            .replace("%WARNINGS%", _warnings(summary))
            .replace("%REFRESH%", '<meta http-equiv="refresh" content="30">'
                     if _live(summary) else "")
            .replace("%IMAGE%", image)
            .replace("%DATA%", _packed(data_json.encode()))
            .replace("%TRAJ%", _packed(bytes(blob))))


def _live(summary: dict[str, Any]) -> bool:
    stream = summary.get("stream")
    return isinstance(stream, dict) and not stream.get("finished", True)


def _facts(summary: dict[str, Any], created: str | None) -> str:
    inputs = summary.get("inputs") or {}
    params = summary["parameters"]
    convention = summary.get("convention") or {}
    pixel = params.get("pixel_size_A") or summary.get("median_pixel_size_A")

    def path(side: str) -> str:
        entry = inputs.get(side) if isinstance(inputs, dict) else None
        return str(entry.get("path", "")) if isinstance(entry, dict) else ""

    facts = [("reference", path("reference")), ("secondary", path("secondary")),
             ("fit", params["fit"]), ("convention", convention.get("applied", "n/a")),
             ("pixel size", f"{pixel:g} Å" if pixel else "from the inputs"),
             ("motioncons", summary.get("motioncons", "")), ("written", created or "")]
    return "".join(f"<div><b>{html.escape(str(v))}</b><span>{html.escape(k)}</span></div>"
                   for k, v in facts if v != "")


def _warnings(summary: dict[str, Any]) -> str:
    items = "".join(f"<li>{html.escape(str(w))}</li>" for w in summary.get("warnings", []))
    return f"<ul class=warn>{items}</ul>" if items else ""


def _packed(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode()


def write_report(path: Path, rows: list[Row], overlays: dict[str, bytes],
                 summary: dict[str, Any], summary_png: bytes | None) -> None:
    created = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    write_text(path, build_report(rows, overlays, summary, summary_png, created))


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">%REFRESH%
<title>motioncons report</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222;max-width:1800px}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:14px 0 6px}
#live{font-size:13px;color:#b00;margin-left:12px}
.facts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.facts div{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:90px;max-width:520px;overflow-wrap:anywhere}
.facts b{display:block;font-size:14px}.facts span{color:#666;font-size:12px}
#counts{font-size:17px;margin:10px 0}#counts .acc{color:#2a8a2a}#counts .dis{color:#c62828}
.warn{color:#8a5a00}
img{max-width:100%;border:1px solid #eee}
.controls{margin:8px 0;display:flex;gap:10px;flex-wrap:wrap;align-items:center}
.controls input[type=number]{width:72px}
code{background:#f4f4f4;padding:2px 4px;overflow-wrap:anywhere}
#hists{display:flex;flex-wrap:wrap;gap:10px}#hists svg{border:1px solid #eee}
#layout{display:flex;gap:16px;align-items:flex-start}
#tablebox{flex:1;min-width:0;overflow:auto}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #eee;padding:2px 3px;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}
td:first-child{max-width:200px;overflow:hidden;text-overflow:ellipsis}
td:first-child,th:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
tr.accepted td:nth-child(2){color:#2a8a2a}tr.discarded td:nth-child(2){color:#c62828}
tr.manual td:nth-child(3){font-weight:bold}
tbody tr{cursor:pointer}tbody tr:hover{background:#f0f6ff}tr.sel{background:#dbe9ff}
#overlay{width:560px;flex:none;position:sticky;top:8px}
#pager{margin:6px 0}dt{font-weight:bold}dd{margin:0 0 4px 16px}
</style></head><body>
<h1>motioncons: movie alignment consensus<span id=live hidden>&#9679; live: this page reloads every 30 s while watch runs</span></h1>
<div class=facts>%FACTS%</div>
<div id=counts><b class=acc id=accepted-count></b> &middot; <b class=dis id=discarded-count></b> <span id=changed></span></div>
%WARNINGS%
<h2>Decide</h2>
<div class=controls>
<label title="lowest accepted score; -1 accepts every score">min corr <input id=min_corr type=number step=0.01 min=-1 max=1></label>
<label title="an axis moving less than this in both trajectories is not compared">min range (px) <input id=min_range type=number step=0.5 min=0></label>
<label title="auto: calibrated on this dataset">max RMSE <select id=max_rmse_mode><option value=auto>auto</option><option value=value>Å:</option><option value=none>off</option></select><input id=max_rmse type=number step=0.05 min=0></label>
<label>max error (Å) <input id=max_error type=number step=0.1 min=0 placeholder=off></label>
<label>max motion (Å) <input id=max_motion type=number step=1 min=0 placeholder=off></label>
<label>max early motion (Å) <input id=max_early_motion type=number step=0.5 min=0 placeholder=off></label>
<button id=reset>values of the run</button>
</div>
<div id=autonote></div>
<p>The same decisions from the command line: <code id=command></code></p>
<p>Marked by hand: <span id=marks>none</span> <button id=download>download the marks (CSV for --override)</button> <button id=clearmarks>clear the marks</button></p>
<div id=hists></div>
<details><summary>What the numbers and reasons mean</summary><dl id=help></dl></details>
<details><summary>Figures of the run</summary>%IMAGE%</details>
<h2>Movies</h2>
<div class=controls>
<label>decision <select id=fdecision><option value="">all</option>
<option>accepted</option><option>discarded</option></select></label>
<label>reason <select id=freason><option value="">all</option></select></label>
<label>movie <input id=fmovie placeholder="part of the name" size=18></label>
<label>score &le; <input id=fscore type=number step=0.05></label>
<label>RMSE (Å) &ge; <input id=frmse type=number step=0.1></label>
<label>rows per page <select id=pagesize><option>50</option><option selected>100</option>
<option>500</option><option value="0">all</option></select></label>
</div>
<div id=count></div>
<div id=layout><div id=tablebox><div id=pager></div>
<table><thead><tr id=head></tr></thead><tbody id=body></tbody></table></div>
<div id=overlay><p>Click a movie to draw its trajectories.</p></div></div>
<script id=data type="text/plain">%DATA%</script>
<script id=traj type="text/plain">%TRAJ%</script>
<script>
"use strict";
async function inflate(id){
  const s=atob(document.getElementById(id).textContent.trim()),b=new Uint8Array(s.length);
  for(let i=0;i<s.length;i++)b[i]=s.charCodeAt(i);
  const out=new Blob([b]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(out).arrayBuffer());
}
// Every string from the data is escaped before it enters markup (movie names are hostile input).
const esc=v=>String(v).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"})[c]);
const num=v=>v===null||v===undefined?NaN:v;
const fmt=v=>v===null||v===undefined||(typeof v==="number"&&!isFinite(v))?"":(typeof v==="number"?(Number.isInteger(v)?String(v):v.toPrecision(4)):esc(v));
const $=id=>document.getElementById(id);
async function main(){
const D=JSON.parse(new TextDecoder().decode(await inflate("data")));
const bytes=await inflate("traj");
const R=D.rules,P=D.summary.parameters,ix=Object.fromEntries(D.fields.map((f,i)=>[f,i]));
if(D.live)$("live").hidden=false;
const rows=D.rows.map(r=>{const g=f=>r[ix[f]];const px=num(g("pixel_size_A"));return{
  movie:g("movie"),decision0:g("decision")?"accepted":"discarded",reason0:D.reasons[g("reason")],base:D.reasons[g("base_reason")],
  corr0:num(g("corr")),cx:num(g("corr_x")),cy:num(g("corr_y")),rmse:num(g("rmse_px")),maxerr:num(g("max_error_px")),
  rrx:num(g("range_ref_x_px")),rry:num(g("range_ref_y_px")),rsx:num(g("range_sec_x_px")),rsy:num(g("range_sec_y_px")),
  range:num(g("range_ref_px")),frames:g("frames"),px:px,rmseA:num(g("rmse_px"))*px,errA:Math.abs(num(g("max_error_px")))*px,
  mt:num(g("motion_total_A")),me:num(g("motion_early_A")),plot:g("plot_path"),acquired:g("acquired"),message:g("message")||"",
  offset:g("offset"),length:g("length"),decision:"",reason:"",corr:NaN};});
for(const x of rows)x.fixed=R.invalid.includes(x.base);
const marks=new Map(rows.filter(x=>x.reason0==="manual").map(x=>[x.movie,x.decision0]));
const NAMES=["min_corr","min_range","max_rmse","max_error","max_motion","max_early_motion"];
const RUN={min_corr:P.min_corr,min_range:P.min_range_px,max_rmse:P.max_rmse===undefined?null:P.max_rmse,max_error:P.max_error_A,max_motion:P.max_motion_A,max_early_motion:P.max_early_motion_A};
function setControls(t){
  for(const n of ["min_corr","min_range","max_error","max_motion","max_early_motion"])$(n).value=t[n]===null?"":t[n];
  $("max_rmse_mode").value=t.max_rmse==="auto"?"auto":(t.max_rmse===null?"none":"value");
  $("max_rmse").value=typeof t.max_rmse==="number"?t.max_rmse:"";
  $("max_rmse").disabled=$("max_rmse_mode").value!=="value";
  $("min_range").disabled=R.fit==="xmipp";
}
function readControls(){
  const v=n=>$(n).value===""?null:+$(n).value;
  const mode=$("max_rmse_mode").value;
  return{min_corr:v("min_corr")??RUN.min_corr,min_range:R.fit==="xmipp"?RUN.min_range:(v("min_range")??RUN.min_range),
    max_rmse:mode==="auto"?"auto":(mode==="none"?null:v("max_rmse")),max_error:v("max_error"),max_motion:v("max_motion"),max_early_motion:v("max_early_motion")};
}
function fromFragment(){
  const t={...RUN};
  for(const part of location.hash.replace(/^#/,"").split("&")){
    const [k,val]=part.split("=").map(decodeURIComponent);
    if(!NAMES.includes(k)||val===undefined)continue;
    if(val==="none"||val==="off"||val==="")t[k]=null;else if(k==="max_rmse"&&val==="auto")t[k]="auto";
    else if(isFinite(+val))t[k]=+val;
  }
  return t;
}
function median(sorted){const n=sorted.length,h=n>>1;return n%2?sorted[h]:(sorted[h-1]+sorted[h])/2;}
// The CLI's rules (consensus.decide_metrics and compare), on the metrics of the run.
function lowAndCorr(x,t){
  if(R.fit==="xmipp")return[x.base==="low_motion",x.corr0];
  const ix_=x.rrx>t.min_range||x.rsx>t.min_range,iy=x.rry>t.min_range||x.rsy>t.min_range;
  const low=!ix_&&!iy;let c=Infinity;
  for(const [inf,v] of [[ix_,x.cx],[iy,x.cy]])if(inf)c=isNaN(v)||isNaN(c)?NaN:Math.min(c,v);
  return[low,low||c===Infinity?NaN:c];
}
function autoThreshold(t){
  if(R.fit==="xmipp"||t.max_rmse!=="auto")return null;
  const vals=rows.filter(x=>!x.fixed&&!x.low&&isFinite(x.rmse)).map(x=>x.rmse).sort((a,b)=>a-b);
  if(vals.length<R.min_movies)return{px:R.floor_px,note:`fewer than ${R.min_movies} moving movies: the floor ${R.floor_px} px`};
  const m=median(vals),mad=median(vals.map(v=>Math.abs(v-m)).sort((a,b)=>a-b));
  return{px:Math.max(R.floor_px,m+R.k*1.4826*mad),note:`median ${m.toPrecision(3)} px + ${R.k} x 1.4826 x MAD ${mad.toPrecision(3)} px over ${vals.length} moving movies, at least ${R.floor_px} px`};
}
function decideAll(t){
  for(const x of rows){[x.low,x.corr]=x.fixed?[false,NaN]:lowAndCorr(x,t);}
  const auto=autoThreshold(t);
  const fixedRmse=typeof t.max_rmse==="number"?t.max_rmse:null;
  for(const x of rows){
    let reason="agree",failing=false;
    if(x.fixed){failing=true;reason=x.base;}
    else{
      if(!(x.corr>=t.min_corr)){failing=true;reason=isNaN(x.corr)?R.nan_reason:"low_correlation";}
      for(const [limit,v,code] of [[fixedRmse,x.rmse*x.px,"high_rmse"],[auto?auto.px:null,x.rmse,"high_rmse"],[t.max_error,Math.abs(x.maxerr)*x.px,"high_max_error"]]){
        if(limit===null)continue;if(!failing&&!(v<=limit)){failing=true;reason=code;}}
      if(x.low){reason="low_motion";failing=false;}
      for(const [limit,v] of [[t.max_motion,x.mt],[t.max_early_motion,x.me]]){
        if(limit===null)continue;if(!failing&&!(v<=limit)){failing=true;reason="excess_motion";}}
    }
    x.decision=failing?"discarded":"accepted";x.reason=reason;
    if(marks.has(x.movie)){x.decision=marks.get(x.movie);x.reason="manual";}
  }
  return auto;
}
function shellQuote(s){return /^[\w@%+=:,./-]+$/.test(s)?s:"'"+s.replace(/'/g,"'\\''")+"'";}
function folder(){const p=decodeURIComponent(location.pathname);return p.slice(0,p.lastIndexOf("/"))||".";}
function command(t){
  const opt=v=>v===null?"none":String(v);
  let c=`motioncons decide ${shellQuote(folder())} --min-corr ${t.min_corr} --min-range ${t.min_range} --max-rmse ${opt(t.max_rmse)} --max-error ${opt(t.max_error)} --max-motion ${opt(t.max_motion)} --max-early-motion ${opt(t.max_early_motion)}`;
  c+=marks.size?" --override motioncons_overrides.csv":" --override none";
  return c;
}
function fragment(t){return NAMES.map(n=>`${n}=${t[n]===null?"none":t[n]}`).join("&");}
function hist(title,values,lo,hi,line,accepted){
  const W=300,H=130,L=30,B=105,bins=40,counts=new Array(bins).fill(0),good=new Array(bins).fill(0);
  values.forEach((v,i)=>{if(!isFinite(v))return;const k=Math.min(bins-1,Math.max(0,Math.floor((v-lo)/(hi-lo)*bins)));counts[k]++;if(accepted[i])good[k]++;});
  const top=Math.max(1,...counts),o=[`<svg width="${W}" height="${H}" font-size="10" font-family="sans-serif"><text x="${W/2}" y="12" text-anchor="middle">${esc(title)}</text>`];
  counts.forEach((c,k)=>{const x=L+k*(W-L-5)/bins,w=(W-L-5)/bins-1,h=c/top*(B-20),g=good[k]/top*(B-20);
    o.push(`<rect x="${x}" y="${B-h}" width="${w}" height="${h-g}" fill="#d62728"/><rect x="${x}" y="${B-g}" width="${w}" height="${g}" fill="#2ca02c"/>`);});
  o.push(`<line x1="${L}" x2="${W-5}" y1="${B}" y2="${B}" stroke="#555"/><text x="${L}" y="${B+12}">${+lo.toPrecision(3)}</text><text x="${W-5}" y="${B+12}" text-anchor="end">${+hi.toPrecision(3)}</text><text x="${L-3}" y="${B-(B-20)+4}" text-anchor="end">${top}</text>`);
  if(line!==null&&isFinite(line)){const x=L+Math.min(1,Math.max(0,(line-lo)/(hi-lo)))*(W-L-5);o.push(`<line class="threshold" x1="${x}" x2="${x}" y1="16" y2="${B}" stroke="#000" stroke-dasharray="4 2"/><text x="${x+2}" y="24">${+line.toPrecision(3)}</text>`);}
  return o.join("")+"</svg>";
}
function upper(values){const v=values.filter(isFinite).sort((a,b)=>a-b);return v.length?(v[Math.floor(0.995*(v.length-1))]*1.1||1):1;}
function acceptance(){
  const timed=rows.filter(x=>x.acquired),byTime=timed.length>rows.length/2;
  const order=(byTime?timed.slice().sort((a,b)=>a.acquired<b.acquired?-1:1):rows.slice().sort((a,b)=>a.movie<b.movie?-1:1));
  const W=420,H=130,L=30,B=105,n=order.length,win=Math.max(1,Math.min(200,Math.floor(n/10)));
  const o=[`<svg width="${W}" height="${H}" font-size="10" font-family="sans-serif"><text x="${W/2}" y="12" text-anchor="middle">% accepted over ${byTime?"acquisition time (from the names)":"the movies sorted by name (no acquisition time in the names)"}</text>`];
  if(n>=win){let acc=0;const pts=[];order.forEach((x,i)=>{acc+=x.decision==="accepted";if(i>=win)acc-=order[i-win].decision==="accepted";if(i>=win-1)pts.push(`${(L+i/(Math.max(1,n-1))*(W-L-5)).toFixed(1)},${(B-acc/win*(B-20)).toFixed(1)}`);});
    o.push(`<polyline fill="none" stroke="#1f77b4" points="${pts.join(" ")}"/>`);}
  o.push(`<line x1="${L}" x2="${W-5}" y1="${B}" y2="${B}" stroke="#555"/><text x="${L-3}" y="24" text-anchor="end">100</text><text x="${L-3}" y="${B}" text-anchor="end">0</text>`);
  if(byTime&&n)o.push(`<text x="${L}" y="${B+12}">${esc(order[0].acquired)}</text><text x="${W-5}" y="${B+12}" text-anchor="end">${esc(order[n-1].acquired)}</text>`);
  return o.join("")+"</svg>";
}
let view=rows,sortKey="movie",sortDir=1,page=0,selected=null;
const SHOW=[["movie","movie"],["decision","decision"],["reason","reason"],["corr","score"],["cx","corr x"],["cy","corr y"],["rmseA","RMSE Å"],["errA","max err Å"],["range","range px"],["mt","motion Å"],["frames","frames"]];
const cell=v=>typeof v==="number"&&isFinite(v)&&!Number.isInteger(v)?v.toPrecision(3):fmt(v);
function update(){
  const t=readControls(),auto=decideAll(t);
  const a=rows.filter(x=>x.decision==="accepted").length,changed=rows.filter(x=>x.decision!==x.decision0).length;
  $("accepted-count").textContent=`${a} accepted`;$("discarded-count").textContent=`${rows.length-a} discarded`;
  $("changed").textContent=changed?`(${changed} differ from the run)`:"(as decided by the run)";
  const pxMedian=median(rows.map(x=>x.px).filter(isFinite).sort((p,q)=>p-q))||NaN;
  $("autonote").textContent=auto?`max RMSE auto = ${auto.px.toPrecision(3)} px${isFinite(pxMedian)?` (${(auto.px*pxMedian).toPrecision(3)} Å)`:""}: ${auto.note}`:(t.max_rmse===null?"max RMSE: off":"");
  $("command").textContent=command(t);
  $("marks").textContent=marks.size?`${marks.size} movie(s)`:"none";
  history.replaceState(null,"","#"+fragment(t));
  const acc=rows.map(x=>x.decision==="accepted");
  const rmseLine=auto?auto.px*pxMedian:(typeof t.max_rmse==="number"?t.max_rmse:null);
  $("hists").innerHTML=hist("score (min corr over moving axes)",rows.map(x=>x.corr),-1,1,t.min_corr,acc)
    +hist("RMSE (Å)",rows.map(x=>x.rmseA),0,upper(rows.map(x=>x.rmseA)),rmseLine,acc)
    +hist("largest per-frame error (Å)",rows.map(x=>x.errA),0,upper(rows.map(x=>x.errA)),t.max_error,acc)
    +hist("reference motion, all frames (Å)",rows.map(x=>x.mt),0,upper(rows.map(x=>x.mt)),t.max_motion,acc)+acceptance();
  apply();
}
for(const n of [...NAMES,"max_rmse_mode"])$(n).oninput=$(n).onchange=()=>{$("max_rmse").disabled=$("max_rmse_mode").value!=="value";update();};
$("reset").onclick=()=>{setControls(RUN);update();};
$("clearmarks").onclick=()=>{marks.clear();update();};
$("download").onclick=()=>{
  const lines=["movie,decision",...[...marks].map(([m,d])=>`"${m.replace(/"/g,'""')}",${d}`)];
  const link=document.createElement("a");link.href=URL.createObjectURL(new Blob([lines.join("\n")+"\n"],{type:"text/csv"}));
  link.download="motioncons_overrides.csv";document.body.appendChild(link);link.click();link.remove();};
$("help").innerHTML=Object.entries(R.metrics).map(([k,v])=>`<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("")+Object.entries(R.reasons).map(([k,v])=>`<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
$("head").innerHTML=SHOW.map(([f,label])=>`<th data-f="${esc(f)}">${esc(label)}</th>`).join("");
$("head").onclick=e=>{const f=e.target.dataset.f;if(!f)return;sortDir=(sortKey===f)?-sortDir:1;sortKey=f;apply();};
for(const id of ["fdecision","freason","fmovie","fscore","frmse","pagesize"])$(id).oninput=$(id).onchange=()=>{page=0;apply();};
function apply(){
  const known=new Set([...$("freason").options].map(o=>o.value));
  for(const r of [...new Set(rows.map(x=>x.reason))].sort())if(!known.has(r)){const o=document.createElement("option");o.textContent=r;$("freason").appendChild(o);}
  const d=$("fdecision").value,r=$("freason").value,m=$("fmovie").value.toLowerCase();
  const s=$("fscore").value===""?null:+$("fscore").value,q=$("frmse").value===""?null:+$("frmse").value;
  view=rows.filter(x=>(!d||x.decision===d)&&(!r||x.reason===r)&&(!m||x.movie.toLowerCase().includes(m))
    &&(s===null||x.corr<=s)&&(q===null||x.rmseA>=q));
  view.sort((a,b)=>{const x=a[sortKey],y=b[sortKey],xn=x===null||Number.isNaN(x),yn=y===null||Number.isNaN(y);if(x===y||(xn&&yn))return 0;if(xn)return 1;if(yn)return -1;return (x<y?-1:1)*sortDir;});
  render();
}
function render(){
  const size=+$("pagesize").value||view.length||1,pages=Math.max(1,Math.ceil(view.length/size));
  page=Math.min(page,pages-1);
  const part=view.slice(page*size,page*size+size);
  $("count").textContent=`${view.length} of ${rows.length} movies`;
  $("pager").innerHTML=`<button id=prev ${page?"":"disabled"}>&lt;</button> page ${page+1} of ${pages} <button id=next ${page<pages-1?"":"disabled"}>&gt;</button>`;
  $("prev").onclick=()=>{page--;render();};$("next").onclick=()=>{page++;render();};
  $("body").innerHTML=part.map(x=>`<tr class="${esc(x.decision)}${x.reason==="manual"?" manual":""}${x===selected?" sel":""}" data-movie="${esc(x.movie)}">`+SHOW.map(([f])=>`<td${f==="movie"?` title="${esc(x.movie)}"`:""}>${cell(x[f])}</td>`).join("")+"</tr>").join("");
}
$("body").onclick=e=>{const tr=e.target.closest("tr");if(!tr)return;const x=rows.find(r=>r.movie===tr.dataset.movie);selected=x;render();draw(x);};
function decode(x){
  const off=x.offset,len=x.length,v=[];let cur=0,sh=0;
  for(let i=off;i<off+len;i++){const b=bytes[i];cur+=(b&127)*Math.pow(2,sh);if(b&128){sh+=7;continue;}v.push(cur%2?-(cur+1)/2:cur/2);cur=0;sh=0;}
  const n=v[0],first=v[1];let k=3,frames;
  if(v[2]){frames=Array.from({length:n},(_,i)=>first+i);}else{let a=0;frames=v.slice(3,3+n).map(d=>a+=d);k+=n;}
  const cum=s=>{let a=0;return s.map(d=>a+=d);},rx=cum(v.slice(k,k+n)),ry=cum(v.slice(k+n,k+2*n));
  const dx=v.slice(k+2*n,k+3*n),dy=v.slice(k+3*n,k+4*n),q=D.quantum;
  return {frames,ref:rx.map((a,i)=>[a*q,ry[i]*q]),sec:rx.map((a,i)=>[(a+dx[i])*q,(ry[i]+dy[i])*q])};
}
function ticks(lo,hi,n){const span=hi-lo;if(!(span>0))return[lo];const raw=span/(n-1),m=Math.pow(10,Math.floor(Math.log10(raw)));
  const step=[1,2,2.5,5,10].map(k=>k*m).reduce((a,b)=>Math.abs(span/b-(n-1))<Math.abs(span/a-(n-1))?b:a);const out=[];for(let v=Math.ceil(lo/step)*step;v<=hi+1e-9;v+=step)out.push(+v.toPrecision(6));return out;}
function draw(x){
  const box=$("overlay");
  if(!x.length){box.innerHTML=`<h3>${esc(x.movie)}</h3><p>${esc(x.decision)} (${esc(x.reason)}): no trajectories to draw.</p>`;decorate(box,x);return;}
  const t=decode(x),W=560,H=500,L=70,T=92,R=480,B=370,EL=70,ET=408,ER=480,EB=470,px=x.px;
  const all=t.ref.concat(t.sec),xs=all.map(p=>p[0]),ys=all.map(p=>p[1]);
  const cx=(Math.min(...xs)+Math.max(...xs))/2,cy=(Math.min(...ys)+Math.max(...ys))/2;
  const span=Math.max(Math.max(...xs)-Math.min(...xs),Math.max(...ys)-Math.min(...ys))*1.12||0.5,sc=Math.min((R-L)/span,(B-T)/span);
  const x0=cx-(R-L)/sc/2,y0=cy-(B-T)/sc/2,X=v=>L+(v-x0)*sc,Y=v=>B-(v-y0)*sc;
  const o=[`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="10">`,
    `<text x="${W/2}" y="18" text-anchor="middle" font-size="14" font-weight="bold" fill="${x.decision==="accepted"?"#2ca02c":"#d62728"}">${esc(x.movie)}: ${esc(x.decision)} (${esc(x.reason)})</text>`,
    `<text x="${W/2}" y="38" text-anchor="middle">corr_x ${fmt(x.cx)}  corr_y ${fmt(x.cy)}  score ${fmt(x.corr)}  RMSE ${fmt(x.rmse)} px / ${fmt(x.rmseA)} Å  max ${fmt(x.maxerr)} px</text>`];
  for(const v of ticks(x0,x0+(R-L)/sc,6))o.push(`<line x1="${X(v)}" x2="${X(v)}" y1="${T}" y2="${B}" stroke="#e6e6e6"/><text x="${X(v)}" y="${B+14}" text-anchor="middle">${v}</text>`);
  for(const v of ticks(y0,y0+(B-T)/sc,6))o.push(`<line x1="${L}" x2="${R}" y1="${Y(v)}" y2="${Y(v)}" stroke="#e6e6e6"/><text x="${L-6}" y="${Y(v)+3}" text-anchor="end">${v}</text>`);
  if(px>0){for(const v of ticks(x0*px,(x0+(R-L)/sc)*px,6))o.push(`<text x="${X(v/px)}" y="${T-6}" text-anchor="middle">${v}</text>`);
    for(const v of ticks(y0*px,(y0+(B-T)/sc)*px,6))o.push(`<text x="${R+6}" y="${Y(v/px)+3}">${v}</text>`);
    o.push(`<text x="${(L+R)/2}" y="${T-22}" text-anchor="middle">x (Å)</text><text transform="translate(${W-8},${(T+B)/2}) rotate(90)" text-anchor="middle">y (Å)</text>`);}
  o.push(`<rect x="${L}" y="${T}" width="${R-L}" height="${B-T}" fill="none" stroke="black"/>`,
    `<text x="${(L+R)/2}" y="${B+30}" text-anchor="middle" font-size="12">x shift (px)</text>`,
    `<text transform="translate(16,${(T+B)/2}) rotate(-90)" text-anchor="middle" font-size="12">y shift (px)</text>`);
  for(const [pts,c,name] of [[t.ref,"#1f77b4","reference"],[t.sec,"#d62728","secondary"]]){
    o.push(`<polyline class="${name}" fill="none" stroke="${c}" stroke-width="1.5" points="${pts.map(p=>X(p[0]).toFixed(1)+","+Y(p[1]).toFixed(1)).join(" ")}"/>`);
    for(const p of pts)o.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1]).toFixed(1)}" r="2" fill="${c}"/>`);}
  o.push(`<circle cx="${X(t.ref[0][0])}" cy="${Y(t.ref[0][1])}" r="6" fill="black"><title>first frame</title></circle>`);
  const step=Math.max(1,Math.ceil(t.frames.length/6));
  for(let i=0;i<t.frames.length;i+=step)o.push(`<text x="${X(t.ref[i][0])+5}" y="${Y(t.ref[i][1])-5}" fill="#444">${t.frames[i]}</text>`);
  o.push(`<rect x="${L+6}" y="${T+6}" width="134" height="46" fill="white" stroke="#bbb"/>`);
  [["#1f77b4","reference"],["#d62728","secondary (fitted)"],["black","first frame"]].forEach(([c,n],i)=>o.push(`<line x1="${L+12}" x2="${L+32}" y1="${T+15+14*i}" y2="${T+15+14*i}" stroke="${c}" stroke-width="2"/><text x="${L+38}" y="${T+19+14*i}">${n}</text>`));
  const err=t.ref.map((p,i)=>Math.hypot(p[0]-t.sec[i][0],p[1]-t.sec[i][1])),top=Math.max(Math.max(...err)*1.15,0.05);
  const f0=t.frames[0],f1=t.frames[t.frames.length-1]>f0?t.frames[t.frames.length-1]:f0+1,EX=f=>EL+(f-f0)/(f1-f0)*(ER-EL),EY=e=>EB-e/top*(EB-ET);
  for(const v of ticks(0,top,3))o.push(`<line x1="${EL}" x2="${ER}" y1="${EY(v)}" y2="${EY(v)}" stroke="#e6e6e6"/><text x="${EL-6}" y="${EY(v)+3}" text-anchor="end">${v}</text>`);
  for(const v of ticks(f0,f1,8))o.push(`<text x="${EX(v)}" y="${EB+13}" text-anchor="middle">${v}</text>`);
  o.push(`<polyline class="error" fill="none" stroke="#555" points="${t.frames.map((f,i)=>EX(f).toFixed(1)+","+EY(err[i]).toFixed(1)).join(" ")}"/>`,
    `<rect x="${EL}" y="${ET}" width="${ER-EL}" height="${EB-ET}" fill="none" stroke="black"/>`,
    `<text x="${(EL+ER)/2}" y="${EB+28}" text-anchor="middle" font-size="12">frame</text>`,
    `<text transform="translate(24,${(ET+EB)/2}) rotate(-90)" text-anchor="middle">error (px)</text></svg>`);
  box.innerHTML=o.join("");
  decorate(box,x);
}
function decorate(box,x){
  box.dataset.movie=x.movie;
  box.insertAdjacentHTML("afterbegin",`<div>${x.message?`<p class=warn>${esc(x.message)}</p>`:""}<button id=markacc>mark accepted</button> <button id=markdis>mark discarded</button> <button id=unmark ${marks.has(x.movie)?"":"disabled"}>unmark</button></div>`);
  const mark=d=>{if(d)marks.set(x.movie,d);else marks.delete(x.movie);update();draw(x);};
  $("markacc").onclick=()=>mark("accepted");$("markdis").onclick=()=>mark("discarded");$("unmark").onclick=()=>mark(null);
}
setControls(fromFragment());
update();
document.body.dataset.firstRenderMs=performance.now().toFixed(0);
document.body.dataset.ready="1";
}
main();
</script></body></html>
"""
