// The explorer page's panel: hover details, colouring, protein search, selection list and CSV export.
// Plain DOM outside Bokeh's shadow roots, so what it shows is in the page's document.
(function () {
  let cells = null, proteins = null, selectedRows = [];
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  function showPoint(source, i) {
    const d = source.data, isCell = source === cells;
    const img = d.thumb[i] ? `<img id="thumbnail" src="${d.thumb[i]}" width="${SETTINGS.thumbnail * 2}" height="${SETTINGS.thumbnail * 2}" alt="${esc(d.protein[i])}">` : "";
    const rows = isCell
      ? [["protein", d.protein[i]], ["image", d.image_id ? d.image_id[i] : ""], ["cell", d.cell_id ? d.cell_id[i] : ""],
         ["label", d.label[i]], ["cluster", d.cluster[i]], ["multi-localization", d.multiloc ? d.multiloc[i] : ""]]
      : [["protein", d.protein[i]], ["cells", d.n_cells[i]], ["label", d.label[i]], ["cluster", d.cluster[i]]];
    $("point").innerHTML = img + rows.filter((r) => r[1] !== "" && r[1] !== undefined)
      .map((r) => `<div><b>${esc(r[0])}</b>: <span data-field="${esc(r[0])}">${esc(r[1])}</span></div>`).join("");
  }

  window.explorerHover = function (source, cbData) {
    const hit = cbData && cbData.index && cbData.index.indices;
    if (hit && hit.length) showPoint(source, hit[0]);
  };

  function search(name) {
    const d = proteins.data, i = d.protein.indexOf(name);
    if (i < 0) { $("point").textContent = `No protein named ${name}.`; $("neighbours").innerHTML = ""; return false; }
    const near = JSON.parse(d.neighbours[i]), dist = JSON.parse(d.distances[i]);
    const wanted = new Set([name, ...near]);
    proteins.selected.indices = d.protein.map((p, j) => wanted.has(p) ? j : -1).filter((j) => j >= 0);
    cells.selected.indices = cells.data.protein.map((p, j) => wanted.has(p) ? j : -1).filter((j) => j >= 0);
    showPoint(proteins, i);
    $("neighbours").innerHTML = near.map((p, k) => `<li data-protein="${esc(p)}">${esc(p)} <small>(${dist[k].toFixed(2)})</small></li>`).join("");
    $("explorer-status").dataset.search = name;
    return true;
  }
  window.explorerSearch = search;

  window.explorerSelected = function (source) {
    const d = source.data, idx = source.selected.indices, counts = new Map();
    for (const i of idx) counts.set(d.protein[i], (counts.get(d.protein[i]) || 0) + 1);
    const labels = new Map(proteins.data.protein.map((p, j) => [p, [proteins.data.label[j], proteins.data.cluster[j]]]));
    selectedRows = [...counts.entries()].sort((a, b) => b[1] - a[1])
      .map(([p, n]) => [p, n, ...(labels.get(p) || ["", ""])]);
    const what = source === cells ? "cells" : "proteins";
    $("selection-summary").textContent = idx.length ? `${idx.length} ${what} of ${selectedRows.length} protein(s)` : "Nothing selected.";
    $("selection-table").innerHTML = selectedRows.length ? "<table><tr><th>protein</th><th>" + what + "</th><th>label</th><th>cluster</th></tr>" +
      selectedRows.map((r) => "<tr>" + r.map((v) => `<td>${esc(v)}</td>`).join("") + "</tr>").join("") + "</table>" : "";
    $("export").disabled = !selectedRows.length;
    $("explorer-status").dataset.selected = selectedRows.length;
    $("explorer-status").dataset.csv = csvText();  // what Export CSV saves, readable in the document
  };

  function csvText() {
    const quote = (v) => /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
    return ["protein,n_selected,label,cluster", ...selectedRows.map((r) => r.map(quote).join(","))].join("\n") + "\n";
  }

  function exportCsv() {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([csvText()], {type: "text/csv"}));
    a.download = `${SETTINGS.title.replace(/[^A-Za-z0-9_.-]+/g, "_")}_selection.csv`;
    document.body.appendChild(a); a.click(); a.remove();
  }

  function colour(option) {
    for (const [source, legends] of [[cells, SETTINGS.legends], [proteins, SETTINGS.proteinLegends]]) {
      const column = source.data["color_" + option];
      if (column) { source.data.color = column.slice(); source.change.emit(); }
    }
    $("legend").innerHTML = (SETTINGS.legends[option] || []).map(([name, c]) =>
      `<div><span class="swatch" style="background:${c}"></span>${esc(name)}</div>`).join("");
  }

  function canvases(root) {
    let n = 0;
    for (const el of root.querySelectorAll("*")) {
      if (el.tagName === "CANVAS") n += 1;
      if (el.shadowRoot) n += canvases(el.shadowRoot);
    }
    return n;
  }

  function ready() {
    const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
    if (!doc || !doc.get_model_by_name("cells") || !canvases(document)) return setTimeout(ready, 50);
    cells = doc.get_model_by_name("cells");
    proteins = doc.get_model_by_name("proteins");
    $("colour").addEventListener("change", (e) => colour(e.target.value));
    $("search").addEventListener("change", (e) => search(e.target.value.trim()));
    $("neighbours").addEventListener("click", (e) => { const li = e.target.closest("li"); if (li) { $("search").value = li.dataset.protein; search(li.dataset.protein); } });
    $("export").addEventListener("click", exportCsv);
    colour($("colour").value);
    const status = $("explorer-status");
    status.dataset.cells = cells.data.x.length;
    status.dataset.proteins = proteins.data.x.length;
    status.dataset.canvases = canvases(document);
    const hash = new URLSearchParams(window.location.hash.slice(1));
    if (hash.get("search")) { $("search").value = hash.get("search"); search(hash.get("search")); }
    status.dataset.ready = "yes";
  }
  ready();
})();
