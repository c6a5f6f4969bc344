/**
 * The page of `kinda ui`: the lab as `kinda graph` draws it (the server's SVG, same layout), each
 * link's live rate, drops and state on it, the Kubernetes nodes' Ready state and pod count, and a
 * panel to cut, restore or shape the link clicked. Plain DOM and SVG, no build step: the page is
 * this string, served by the CLI process.
 */
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `<style>
 body { font-family: DejaVu Sans, Arial, sans-serif; margin: 0; display: flex; height: 100vh; }
 #graph { flex: 1; overflow: auto; padding: 8px; }
 #side { width: 320px; border-left: 1px solid #ccc; padding: 10px; overflow: auto; font-size: 13px; }
 h1 { font-size: 16px; margin: 0 0 8px; }
 line.link { cursor: pointer; }
 line.link:hover { stroke-width: 5; }
 text.rate { font-size: 10px; fill: #06c; paint-order: stroke; stroke: white; stroke-width: 3; pointer-events: none; }
 table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: 2px 4px; border-bottom: 1px solid #eee; }
 .cut { color: #c00; font-weight: bold; } .ok { color: #080; } .bad { color: #c00; }
 #panel { border: 1px solid #999; padding: 8px; margin: 8px 0; display: none; }
 #panel input { width: 80px; } button { margin: 2px; }
 #status { color: #555; font-size: 11px; }
</style>`;

const SCRIPT = `<script>
(() => {
  const token = new URLSearchParams(location.search).get("token") || "";
  history.replaceState(null, "", location.pathname);
  const H = { "X-Kinda-Token": token };
  const human = (bps) => bps === undefined ? "" : bps >= 1e9 ? (bps / 1e9).toFixed(1) + " Gbit/s" : bps >= 1e6 ? (bps / 1e6).toFixed(1) + " Mbit/s" : bps >= 1e3 ? (bps / 1e3).toFixed(1) + " kbit/s" : Math.round(bps) + " bit/s";
  let edges = [], selected = -1, lines = [];
  const el = (tag, attrs, text) => { const e = document.createElementNS("http://www.w3.org/2000/svg", tag); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; };
  const cell = (tr, text, cls) => { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); };
  async function loadGraph() {
    const r = await fetch("/graph.svg", { headers: H });
    document.getElementById("graph").innerHTML = await r.text();
    const svg = document.querySelector("#graph svg");
    lines = [...svg.querySelectorAll("line.link")];
    lines.forEach((l, i) => {
      l.addEventListener("click", () => select(i));
      const x = (Number(l.getAttribute("x1")) + Number(l.getAttribute("x2"))) / 2, y = (Number(l.getAttribute("y1")) + Number(l.getAttribute("y2"))) / 2;
      const t = el("text", { class: "rate", "data-edge": String(i), x: String(x + 6), y: String(y), "text-anchor": "start" }, "");
      svg.appendChild(t);
    });
  }
  function select(i) {
    selected = i;
    document.getElementById("panel").style.display = "block";
    document.getElementById("p-result").textContent = "";
    show();
  }
  function show() {
    if (selected < 0 || !edges[selected]) return;
    const e = edges[selected];
    document.getElementById("p-title").textContent = e.endpoint;
    document.getElementById("p-info").textContent = (e.cut ? "CUT" : "up") + (e.shaped ? ", shaped " + e.shaped : "") + ", tx " + human(e.txBps) + ", rx " + human(e.rxBps) + ", drops " + e.drops;
  }
  async function act(body) {
    const e = edges[selected];
    const out = document.getElementById("p-result");
    out.textContent = "...";
    const r = await fetch("/api/link", { method: "POST", headers: { ...H, "content-type": "application/json" }, body: JSON.stringify({ endpoint: e.endpoint, ...body }) });
    const j = await r.json();
    out.textContent = r.ok ? "done" : "error: " + j.error;
    out.className = r.ok ? "ok" : "bad";
    await refresh();
  }
  document.getElementById("p-down").onclick = () => act({ action: "down" });
  document.getElementById("p-up").onclick = () => act({ action: "up" });
  document.getElementById("p-clear").onclick = () => act({ action: "clear" });
  document.getElementById("p-shape").onclick = () => act({ action: "shape", rate: document.getElementById("p-rate").value, latency: document.getElementById("p-latency").value });
  async function refresh() {
    const r = await fetch("/api/state", { headers: H });
    if (!r.ok) { document.getElementById("status").textContent = "error " + r.status; return; }
    const s = await r.json();
    edges = s.edges;
    edges.forEach((e, i) => {
      const l = lines[i]; if (!l) return;
      l.setAttribute("stroke", e.cut ? "#c00" : e.shaped ? "#e80" : "#555");
      if (e.cut) l.setAttribute("stroke-dasharray", "6 4"); else l.removeAttribute("stroke-dasharray");
      l.setAttribute("data-cut", String(e.cut));
      const t = document.querySelector('text.rate[data-edge="' + i + '"]');
      if (t) { t.textContent = e.cut ? "CUT" : human(Math.max(e.txBps || 0, e.rxBps || 0)); t.setAttribute("data-bps", String(Math.max(e.txBps || 0, e.rxBps || 0))); }
    });
    const nb = document.querySelector("#nodes tbody"); nb.innerHTML = "";
    for (const n of s.nodes) { const tr = document.createElement("tr"); tr.dataset.node = n.name; cell(tr, n.name); cell(tr, n.k8sName); cell(tr, n.ready === undefined ? "?" : n.ready ? "Ready" : "NotReady", n.ready ? "ok" : "bad"); cell(tr, n.pods === undefined ? "?" : String(n.pods)); nb.appendChild(tr); }
    const lb = document.querySelector("#links tbody"); lb.innerHTML = "";
    for (const k of s.links) { const tr = document.createElement("tr"); tr.dataset.endpoint = k.endpoint; cell(tr, k.endpoint); cell(tr, k.cut ? "CUT" : "up", k.cut ? "cut" : ""); cell(tr, human(k.txBps)); cell(tr, human(k.rxBps)); cell(tr, String(k.drops)); lb.appendChild(tr); }
    document.getElementById("status").textContent = "updated " + new Date(s.at).toLocaleTimeString() + (s.problems.length ? " (" + s.problems.join("; ") + ")" : "");
    document.body.dataset.updated = String(s.at);
    show();
  }
  loadGraph().then(refresh).then(() => setInterval(() => refresh().catch(() => {}), 1000));
})();
</script>`;

export function uiPage(lab: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kinda ui: ${esc(lab)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
${STYLE}</head>
<body>
<div id="graph" aria-label="topology"></div>
<div id="side">
 <h1>lab ${esc(lab)}</h1>
 <div id="status">connecting...</div>
 <div id="panel" role="dialog" aria-label="link">
  <div><b id="p-title"></b></div>
  <div id="p-info"></div>
  <button id="p-down">Cut</button><button id="p-up">Restore</button>
  <div>rate <input id="p-rate" placeholder="10mbit"> latency <input id="p-latency" placeholder="50ms"></div>
  <button id="p-shape">Shape</button><button id="p-clear">Clear shaping</button>
  <div id="p-result"></div>
 </div>
 <h2 style="font-size:14px">Kubernetes nodes</h2>
 <table id="nodes"><thead><tr><th>node</th><th>Kubernetes</th><th>Ready</th><th>pods</th></tr></thead><tbody></tbody></table>
 <h2 style="font-size:14px">Links</h2>
 <table id="links"><thead><tr><th>endpoint</th><th>state</th><th>tx</th><th>rx</th><th>drops</th></tr></thead><tbody></tbody></table>
</div>
${SCRIPT}
</body></html>`;
}
