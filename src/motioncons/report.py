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
import html
import json
import math
import zlib
from pathlib import Path

import numpy as np

from .outputs.atomic import write_text
from .records import Row

QUANTUM = 0.01
TABLE_FIELDS = ("movie", "decision", "reason", "corr", "corr_x", "corr_y", "rmse_px",
                "max_error_px", "range_ref_px", "range_sec_px", "frames", "pixel_size_A",
                "plot_path")


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


def _number(value: object) -> object:
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.4g}")
    return value


def _cell(row: Row, field: str, reasons: dict[str, int]) -> object:
    if field == "decision":
        return int(row.accepted)
    if field == "reason":
        return reasons.setdefault(row.reason, len(reasons))
    if field == "plot_path":
        return row.plot_path or 0
    return _number(getattr(row, field))


def build_report(rows: list[Row], overlays: dict[str, bytes], summary: dict[str, object],
                 summary_png: bytes | None) -> str:
    table = []
    blob = bytearray()
    reasons: dict[str, int] = {}
    for row in rows:
        data = overlays.get(row.movie)
        start = len(blob)
        if data:
            blob += data
        table.append([_cell(row, f, reasons) for f in TABLE_FIELDS] + [start, len(blob) - start])
    payload = {"fields": [*TABLE_FIELDS, "offset", "length"], "rows": table,
               "reasons": list(reasons), "summary": summary, "quantum": QUANTUM}
    data_json = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    image = (f'<img alt="summary figures" src="data:image/png;base64,'
             f'{base64.b64encode(summary_png).decode()}">' if summary_png else "")
    counts = summary["counts"]
    params = summary["parameters"]
    convention = summary.get("convention") or {}
    facts = [("paired movies", counts["paired"]), ("accepted", counts["accepted"]),
             ("discarded", counts["discarded"]), ("invalid input", counts["invalid"]),
             ("only in reference", counts["only_in_reference"]),
             ("only in secondary", counts["only_in_secondary"]),
             ("fit", params["fit"]), ("min corr", params["min_corr"]),
             ("min range (px)", params["min_range_px"]),
             ("max RMSE (Å)", params["max_rmse_A"]), ("max error (Å)", params["max_error_A"]),
             ("convention", convention.get("applied", "n/a"))]
    fact_html = "".join(f"<div><b>{html.escape(str(v))}</b><span>{html.escape(k)}</span></div>"
                        for k, v in facts)
    warnings = "".join(f"<li>{html.escape(str(w))}</li>" for w in summary.get("warnings", []))
    return (_TEMPLATE.replace("%FACTS%", fact_html)
            .replace("%WARNINGS%", f"<ul class=warn>{warnings}</ul>" if warnings else "")
            .replace("%IMAGE%", image)
            .replace("%DATA%", _packed(data_json.encode()))
            .replace("%TRAJ%", _packed(bytes(blob))))


def _packed(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode()


def write_report(path: Path, rows: list[Row], overlays: dict[str, bytes],
                 summary: dict[str, object], summary_png: bytes | None) -> None:
    write_text(path, build_report(rows, overlays, summary, summary_png))


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>motioncons report</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 8px}
.facts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.facts div{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:90px}
.facts b{display:block;font-size:17px}.facts span{color:#666;font-size:12px}
.warn{color:#8a5a00}
img{max-width:100%;border:1px solid #eee}
#controls{margin:12px 0;display:flex;gap:8px;flex-wrap:wrap;align-items:center}
#layout{display:flex;gap:16px;align-items:flex-start}
#tablebox{flex:1;min-width:0;overflow:auto}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{border-bottom:1px solid #eee;padding:3px 6px;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}
td:first-child,th:first-child,td:nth-child(2),td:nth-child(3){text-align:left}
tr.accepted td:nth-child(2){color:#2a8a2a}tr.discarded td:nth-child(2){color:#c62828}
tbody tr{cursor:pointer}tbody tr:hover{background:#f0f6ff}tr.sel{background:#dbe9ff}
#overlay{width:560px;flex:none;position:sticky;top:8px}
#pager{margin:6px 0}
</style></head><body>
<h1>motioncons: movie alignment consensus</h1>
<div class=facts>%FACTS%</div>
%WARNINGS%
%IMAGE%
<div id=controls>
<label>decision <select id=fdecision><option value="">all</option>
<option>accepted</option><option>discarded</option></select></label>
<label>reason <select id=freason><option value="">all</option></select></label>
<label>movie <input id=fmovie placeholder="part of the name" size=18></label>
<label>score &le; <input id=fscore type=number step=0.05 style="width:70px"></label>
<label>RMSE (Å) &ge; <input id=frmse type=number step=0.1 style="width:70px"></label>
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
async function main(){
const D=JSON.parse(new TextDecoder().decode(await inflate("data")));
const bytes=await inflate("traj");
const F=D.fields.concat(["rmse_A","max_error_A"]), ix=Object.fromEntries(F.map((f,i)=>[f,i]));
for(const r of D.rows){r[ix.decision]=r[ix.decision]?"accepted":"discarded";r[ix.reason]=D.reasons[r[ix.reason]];
  const p=r[ix.pixel_size_A];r.push(p&&r[ix.rmse_px]!==null?+(r[ix.rmse_px]*p).toPrecision(4):null,p&&r[ix.max_error_px]!==null?+(Math.abs(r[ix.max_error_px])*p).toPrecision(4):null);}
const SHOW=["movie","decision","reason","corr","corr_x","corr_y","rmse_A","max_error_A","range_ref_px","frames"];
let rows=D.rows, view=rows, sortKey="movie", sortDir=1, page=0, selected=null;
const $=id=>document.getElementById(id);
// Every string from the data is escaped before it enters markup (movie names are hostile input).
const esc=v=>String(v).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"})[c]);
const fmt=v=>v===null?"":(typeof v==="number"?(Number.isInteger(v)?String(v):v.toPrecision(4)):esc(v));
for(const r of [...new Set(rows.map(r=>r[ix.reason]))].sort()){const o=document.createElement("option");o.textContent=r;$("freason").appendChild(o);}
$("head").innerHTML=SHOW.map(f=>`<th data-f="${esc(f)}">${esc(f)}</th>`).join("");
$("head").onclick=e=>{const f=e.target.dataset.f;if(!f)return;sortDir=(sortKey===f)?-sortDir:1;sortKey=f;apply();};
for(const id of ["fdecision","freason","fmovie","fscore","frmse","pagesize"])$(id).oninput=$(id).onchange=()=>{page=0;apply();};
function apply(){
  const d=$("fdecision").value,r=$("freason").value,m=$("fmovie").value.toLowerCase();
  const s=$("fscore").value===""?null:+$("fscore").value,q=$("frmse").value===""?null:+$("frmse").value;
  view=rows.filter(x=>(!d||x[ix.decision]===d)&&(!r||x[ix.reason]===r)&&(!m||x[ix.movie].toLowerCase().includes(m))
    &&(s===null||(x[ix.corr]!==null&&x[ix.corr]<=s))&&(q===null||(x[ix.rmse_A]!==null&&x[ix.rmse_A]>=q)));
  const k=ix[sortKey];
  view.sort((a,b)=>{const x=a[k],y=b[k];if(x===y)return 0;if(x===null)return 1;if(y===null)return -1;return (x<y?-1:1)*sortDir;});
  render();
}
function render(){
  const size=+$("pagesize").value||view.length||1, pages=Math.max(1,Math.ceil(view.length/size));
  page=Math.min(page,pages-1);
  const part=view.slice(page*size,page*size+size);
  $("count").textContent=`${view.length} of ${rows.length} movies`;
  $("pager").innerHTML=`<button id=prev ${page?"":"disabled"}>&lt;</button> page ${page+1} of ${pages} <button id=next ${page<pages-1?"":"disabled"}>&gt;</button>`;
  $("prev").onclick=()=>{page--;render();};$("next").onclick=()=>{page++;render();};
  $("body").innerHTML=part.map(x=>`<tr class="${esc(x[ix.decision])}${x===selected?" sel":""}" data-movie="${esc(x[ix.movie])}">`+SHOW.map(f=>`<td>${fmt(x[ix[f]])}</td>`).join("")+"</tr>").join("");
}
$("body").onclick=e=>{const tr=e.target.closest("tr");if(!tr)return;const x=rows.find(r=>r[ix.movie]===tr.dataset.movie);selected=x;render();draw(x);};
function decode(x){
  const off=x[ix.offset],len=x[ix.length],v=[];let cur=0,sh=0;
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
  if(!x[ix.length]){box.innerHTML=`<h3>${esc(x[ix.movie])}</h3><p>${esc(x[ix.decision])} (${esc(x[ix.reason])}): no trajectories to draw.</p>`;return;}
  const t=decode(x),W=560,H=500,L=70,T=92,R=480,B=370,EL=70,ET=408,ER=480,EB=470,px=x[ix.pixel_size_A];
  const all=t.ref.concat(t.sec),xs=all.map(p=>p[0]),ys=all.map(p=>p[1]);
  const cx=(Math.min(...xs)+Math.max(...xs))/2,cy=(Math.min(...ys)+Math.max(...ys))/2;
  const span=Math.max(Math.max(...xs)-Math.min(...xs),Math.max(...ys)-Math.min(...ys))*1.12||0.5,sc=Math.min((R-L)/span,(B-T)/span);
  const x0=cx-(R-L)/sc/2,y0=cy-(B-T)/sc/2,X=v=>L+(v-x0)*sc,Y=v=>B-(v-y0)*sc;
  const o=[`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="10">`,
    `<text x="${W/2}" y="18" text-anchor="middle" font-size="14" font-weight="bold" fill="${x[ix.decision]==="accepted"?"#2ca02c":"#d62728"}">${esc(x[ix.movie])}: ${esc(x[ix.decision])} (${esc(x[ix.reason])})</text>`,
    `<text x="${W/2}" y="38" text-anchor="middle">corr_x ${fmt(x[ix.corr_x])}  corr_y ${fmt(x[ix.corr_y])}  score ${fmt(x[ix.corr])}  RMSE ${fmt(x[ix.rmse_px])} px / ${fmt(x[ix.rmse_A])} Å  max ${fmt(x[ix.max_error_px])} px</text>`];
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
  box.dataset.movie=x[ix.movie];
}
apply();
document.body.dataset.firstRenderMs=performance.now().toFixed(0);
}
main();
</script></body></html>
"""
