// One heatmap: a table with target tokens down and source tokens across, coloured by attention, that answers
// pointer and keyboard alike. It follows the ARIA grid pattern: the whole table is one stop in the Tab order,
// arrow keys move between token labels and cells (Home/End, Ctrl+Home/End, PageUp/PageDown jump), and the
// element under the pointer or the focus lights up what belongs to it:
// - a cell: its row's target token and its column's source token (class "is-active" on both labels);
// - a target token: the source tokens it attended to, each label tinted by its weight ("is-weighted"), those
//   with at least ATTENDED of the weight marked "is-attended";
// - a source token: the target tokens that attended to it, in the same way.

import { h } from "./dom.js";

export const ATTENDED = 0.1;
const PAGE_STEP = 5;
const DARK_TEXT_FROM = 0.55;

let heatmapCount = 0;

function format(value) {
  return value.toFixed(2);
}

function labelContent(token) {
  const parts = [];
  if (token.mark) parts.push(h("span", { class: "tok__mark", "aria-hidden": "true" }, "\u2581"));
  parts.push(h("span", { class: token.special ? "tok__text tok__text--special" : "tok__text" }, token.text));
  return parts;
}

function spoken(token) {
  return token.mark ? token.text : token.full;
}

function topWeights(weights, labels, count) {
  return weights
    .map((value, index) => ({ value, index }))
    .sort((a, b) => b.value - a.value || a.index - b.index)
    .slice(0, count)
    .filter((entry) => entry.value >= 0.005)
    .map((entry) => `“${spoken(labels[entry.index])}” ${format(entry.value)}`)
    .join(", ");
}

/**
 * The heatmap of `view` (from matrix.js) as a <figure>.
 * @param {object} view
 * @param {{title: string, sourceLanguage: string, targetLanguage: string}} context
 */
export function renderHeatmap(view, context) {
  heatmapCount += 1;
  const id = `heatmap-${heatmapCount}`;
  const { rows, columns, shades, values, links } = view;
  const unit = view.level === "word" ? "words" : "subword pieces";

  const readout = h("p", { class: "readout", id: `${id}-readout`, "data-testid": "readout" });
  const idleReadout = "Point at or focus a cell or a token to see what it attended to.";
  readout.textContent = idleReadout;

  const columnHeaders = columns.map((token, j) => {
    const header = h("th", {
      scope: "col", class: "tok tok--source", "data-j": String(j), "data-testid": "source-token", tabindex: "-1",
      lang: context.sourceLanguage, title: token.full, "aria-label": spoken(token),
    }, h("span", { class: "tok__label" }, ...labelContent(token)));
    return header;
  });
  const corner = h("td", { class: "corner", "aria-hidden": "true" },
    h("span", { class: "corner__across" }, "read →"), h("span", { class: "corner__down" }, "wrote ↓"));
  const head = h("thead", {}, h("tr", {}, corner, ...columnHeaders));

  const rowHeaders = [];
  const cells = [];
  const tableRows = rows.map((token, i) => {
    const header = h("th", {
      scope: "row", class: "tok tok--target", "data-i": String(i), "data-testid": "target-token", tabindex: "-1",
      lang: context.targetLanguage, title: token.full, "aria-label": spoken(token),
    }, h("span", { class: "tok__label" }, ...labelContent(token)));
    rowHeaders.push(header);
    const rowCells = columns.map((source, j) => {
      const shade = shades[i]?.[j] ?? 0;
      const value = values[i]?.[j] ?? 0;
      const linked = links.has(`${i},${j}`);
      const cell = h("td", {
        class: linked ? "cell is-link" : "cell", "data-testid": "cell", "data-i": String(i), "data-j": String(j),
        "data-value": value.toFixed(4), tabindex: "-1",
        "aria-label": `${spoken(token)} ← ${spoken(source)}: ${format(shade)}${linked ? ", aligned" : ""}`,
      });
      cell.style.setProperty("--w", String(Math.max(0, Math.min(1, shade))));
      if (shade >= DARK_TEXT_FROM) cell.classList.add("is-dark");
      cell.title = `${token.full} ← ${source.full}: ${value.toFixed(4)}`;
      return cell;
    });
    cells.push(rowCells);
    return h("tr", {}, header, ...rowCells);
  });
  const table = h("table", {
    class: `grid grid--${view.level}`, role: "grid", "data-testid": "heatmap", "data-level": view.level,
    "aria-label": `${context.title}: attention, ${rows.length} target ${unit} down, ${columns.length} source ${unit} across`,
    "aria-describedby": readout.id, "aria-rowcount": String(rows.length + 1), "aria-colcount": String(columns.length + 1),
  }, head, h("tbody", {}, ...tableRows));

  // grid positions: row 0 holds the source tokens, column 0 the target tokens, (0, 0) is the empty corner
  const at = (r, c) => (r === 0 ? (c === 0 ? null : columnHeaders[c - 1]) : c === 0 ? rowHeaders[r - 1] : cells[r - 1][c - 1]);
  const positionOf = (element) => {
    const i = element.dataset.i === undefined ? -1 : Number(element.dataset.i);
    const j = element.dataset.j === undefined ? -1 : Number(element.dataset.j);
    return { r: i + 1, c: j + 1 };
  };
  let stop = cells.length && columns.length ? cells[0][0] : rowHeaders[0] || columnHeaders[0];
  if (stop) stop.tabIndex = 0;

  let lit = [];
  let hovered = null;
  let focused = null;

  function light(element, ...classes) {
    element.classList.add(...classes);
    lit.push(element);
  }

  function tint(element, weight) {
    element.style.setProperty("--a", String(Math.max(0, Math.min(1, weight))));
    light(element, "is-weighted");
    if (weight >= ATTENDED) element.classList.add("is-attended");
    if (weight >= DARK_TEXT_FROM) element.classList.add("is-dark");
  }

  function clear() {
    for (const element of lit) {
      element.classList.remove("is-active", "is-active-row", "is-active-col", "is-weighted", "is-attended");
      if (!element.classList.contains("cell")) element.classList.remove("is-dark");
      element.style.removeProperty("--a");
    }
    lit = [];
    table.classList.remove("is-highlighting");
  }

  function show(element) {
    clear();
    if (!element) {
      readout.textContent = idleReadout;
      return;
    }
    table.classList.add("is-highlighting");
    const { r, c } = positionOf(element);
    const i = r - 1;
    const j = c - 1;
    if (i >= 0 && j >= 0) {
      light(element, "is-active");
      light(rowHeaders[i], "is-active");
      light(columnHeaders[j], "is-active");
      for (const cell of cells[i]) light(cell, "is-active-row");
      for (const row of cells) light(row[j], "is-active-col");
      const weight = shades[i][j];
      const sum = values[i][j];
      const summed = view.level === "word" && rows[i].pieces > 1
        ? ` (share of the word's ${rows[i].pieces} pieces; summed ${sum.toFixed(3)})` : "";
      readout.textContent = `“${spoken(rows[i])}” ← “${spoken(columns[j])}”: ${format(weight)}${summed}` +
        (links.has(`${i},${j}`) ? " · aligned" : "");
    } else if (i >= 0) {
      light(element, "is-active");
      for (const cell of cells[i]) light(cell, "is-active-row");
      columnHeaders.forEach((header, column) => tint(header, shades[i][column]));
      readout.textContent = `“${spoken(rows[i])}” attended most to ${topWeights(shades[i], columns, 3) || "nothing"}`;
    } else {
      light(element, "is-active");
      for (const row of cells) light(row[j], "is-active-col");
      const column = shades.map((row) => row[j]);
      rowHeaders.forEach((header, row) => tint(header, column[row]));
      readout.textContent = `“${spoken(columns[j])}” was attended by ${topWeights(column, rows, 3) || "nothing"}`;
    }
  }

  const update = () => show(hovered || focused);
  const target = (event) => {
    const element = event.target instanceof Element ? event.target.closest("[data-i], [data-j]") : null;
    return element && table.contains(element) ? element : null;
  };

  table.addEventListener("mouseover", (event) => {
    const element = target(event);
    if (element && element !== hovered) {
      hovered = element;
      update();
    }
  });
  table.addEventListener("mouseleave", () => {
    hovered = null;
    update();
  });
  table.addEventListener("focusin", (event) => {
    const element = target(event);
    if (!element) return;
    if (stop && stop !== element) stop.tabIndex = -1;
    element.tabIndex = 0;
    stop = element;
    focused = element;
    update();
  });
  table.addEventListener("focusout", (event) => {
    if (!(event.relatedTarget instanceof Node) || !table.contains(event.relatedTarget)) {
      focused = null;
      update();
    }
  });
  table.addEventListener("keydown", (event) => {
    const element = target(event);
    if (!element) return;
    const last = { r: rows.length, c: columns.length };
    let { r, c } = positionOf(element);
    const key = event.key;
    if (key === "ArrowRight") c = Math.min(last.c, c + 1);
    else if (key === "ArrowLeft") c = Math.max(r === 0 ? 1 : 0, c - 1);
    else if (key === "ArrowDown") r = Math.min(last.r, r + 1);
    else if (key === "ArrowUp") r = Math.max(c === 0 ? 1 : 0, r - 1);
    else if (key === "PageDown") r = Math.min(last.r, r + PAGE_STEP);
    else if (key === "PageUp") r = Math.max(c === 0 ? 1 : 0, r - PAGE_STEP);
    else if (key === "Home" && event.ctrlKey) [r, c] = [1, 1];
    else if (key === "End" && event.ctrlKey) [r, c] = [last.r, last.c];
    else if (key === "Home") c = r === 0 ? 1 : 0;
    else if (key === "End") c = last.c;
    else return;
    event.preventDefault();
    const next = at(r, c);
    if (next) {
      next.focus({ preventScroll: false });
      next.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  });

  const ticks = ["1", "0.75", "0.5", "0.25", "0"].map((tick) => h("span", {}, tick));
  const legend = h("div", { class: "legend", "aria-hidden": "true" },
    h("span", { class: "legend__label" }, view.level === "word" ? "share of the word's attention" : "attention weight"),
    h("span", { class: "legend__scale" }, h("span", { class: "legend__bar" }), h("span", { class: "legend__ticks" }, ...ticks)),
    links.size ? h("span", { class: "legend__link" }, h("span", { class: "legend__ring" }), "alignment link") : null);

  return h("figure", { class: "heatmap" },
    h("div", { class: "heatmap__body" }, h("div", { class: "heatmap__scroll" }, table), legend),
    h("figcaption", { class: "heatmap__caption" }, readout));
}
