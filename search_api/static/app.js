// The search page: results on every keystroke, suggestions under the box, facets with counts,
// sorting, matched words marked, a clear "nothing found", and the article view (article.js) at
// /?article=ID. Plain DOM modules, no build step, nothing loaded from elsewhere.
import { el, safeUrl, articlePath, articleViewUrl, titleNodes, passageNode, metaText, capabilities } from "./render.js";
import { Suggestions, completed } from "./suggest.js";
import { showArticle } from "./article.js";

const PAGE_SIZE = 10;
const DEBOUNCE_MS = 150;
const FACETS = { source: "Source", author: "Author", year: "Year" };
const $ = (id) => document.getElementById(id);
const form = $("search-form"), input = $("q"), list = $("results"), statusLine = $("status"), more = $("more");
const ready = capabilities(); // what this server offers: facets, sort, an author filter, /suggest
let timer = null, controller = null, offset = 0, author = "";

// The query as sent: leading blanks go, a trailing space stays (it says the last word is complete;
// without it the last word also matches as the start of a longer one).
const typed = () => input.value.replace(/^\s+/, "");

// The filters set on the page, as search parameters.
function filters(api) {
  const p = new URLSearchParams();
  for (const name of ["source", "date_from", "date_to"]) if ($(name).value) p.set(name, $(name).value);
  if (author && api.params.has("author")) p.set("author", author);
  return p;
}

// The page's state as search parameters (also its URL).
function params(api) {
  const p = new URLSearchParams({ q: typed(), mode: $("mode").value });
  if ($("sort").value !== "relevance" && api.params.has("sort")) p.set("sort", $("sort").value);
  for (const [name, value] of filters(api)) p.set(name, value);
  return p;
}

function showView(name) {
  $("search-view").hidden = name !== "search";
  $("article-view").hidden = name !== "article";
  if (name === "search") document.title = "article-search";
}

function resultNode(hit, query) {
  const title = el("a", { class: "title", href: articleViewUrl("", hit, query) }, ...titleNodes(hit.title || "(untitled)", hit.title_terms));
  const href = safeUrl(hit.url);
  const meta = el("div", { class: "meta" }, metaText(hit), ...(href ? [" · ", el("a", { class: "original", href }, "original")] : []));
  const item = el("li", { class: "result", "data-id": hit.article_id }, el("h2", {}, title), meta);
  if (hit.passages.length) item.append(passageNode(hit.passages[0]));
  if (hit.also_published_in && hit.also_published_in.length) {
    item.append(el("div", { class: "also" }, "Also published in: " +
      hit.also_published_in.map((a) => a.source || a.article_id).join(", ")));
  }
  const button = el("button", { class: "related-link", type: "button", "aria-expanded": "false" }, "Related coverage");
  button.addEventListener("click", () => toggleRelated(hit.article_id, item, button, query));
  item.append(button);
  return item;
}

async function toggleRelated(id, item, button, query) {
  const open = item.querySelector(".related");
  if (open) { open.remove(); button.setAttribute("aria-expanded", "false"); return; }
  const box = el("ol", { class: "related" }, el("li", {}, "Loading…"));
  item.append(box);
  button.setAttribute("aria-expanded", "true");
  try {
    const response = await fetch(`${articlePath(id)}/related?k=5`);
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    box.replaceChildren(...(data.results.length ? data.results.map((r) => el("li", {},
      el("a", { href: articleViewUrl("", r, query) }, r.title || r.article_id),
      el("span", { class: "meta" }, ` ${[r.source, r.published].filter(Boolean).join(" · ")}`),
      ...(r.near_duplicate ? [el("span", { class: "tag" }, "same text")] : []))) : [el("li", {}, "No related coverage.")]));
  } catch (err) {
    box.replaceChildren(el("li", {}, `Could not load related coverage: ${err.message}`));
  }
}

// Whether a facet value is the filter in force, and how clicking it sets or clears that filter.
// A year is the date range of that year; an author needs the server's `author` filter.
const FACET_FILTERS = {
  source: { active: (v) => $("source").value === v, set: (v) => { setSource(v); } },
  author: { active: (v) => author === v, set: (v) => { author = v; } },
  year: {
    active: (v) => $("date_from").value === `${v}-01-01` && $("date_to").value === `${v}-12-31`,
    set: (v) => { $("date_from").value = v ? `${v}-01-01` : ""; $("date_to").value = v ? `${v}-12-31` : ""; },
  },
};

function setSource(value) {
  if (value && ![...$("source").options].some((o) => o.value === value)) $("source").append(el("option", { value }, value));
  $("source").value = value;
}

function renderFacets(facets, api) {
  const box = $("facets");
  const groups = Object.entries(FACETS).filter(([field]) => facets && facets[field] && facets[field].some((f) => f.value !== ""));
  box.replaceChildren(...groups.map(([field, label]) => {
    const filter = FACET_FILTERS[field];
    const clickable = field !== "author" || api.params.has("author");
    const values = facets[field].filter((f) => f.value !== "").map(({ value, count }) => {
      const name = String(value), countNode = el("span", { class: "count" }, String(count));
      if (!clickable) return el("li", {}, el("span", { class: "facet-value" }, name, " ", countNode));
      const active = filter.active(name);
      const button = el("button", { type: "button", class: "facet-value", "aria-pressed": String(active),
                                    "data-field": field, "data-value": name }, name, " ", countNode);
      button.addEventListener("click", () => { filter.set(active ? "" : name); search(false); });
      return el("li", {}, button);
    });
    return el("section", { class: "facet", "data-field": field }, el("h3", {}, label), el("ul", {}, ...values));
  }));
  box.hidden = !groups.length;
}

// What the status line says: which articles are shown, in what order, under which filters.
// The count of all matches is the server's `total` (older servers: known when one page holds all).
function statusText(data, shown, api) {
  const exhausted = data.results.length < PAGE_SIZE;
  const total = typeof data.total === "number" ? data.total : (exhausted && data.offset === 0 ? shown : null);
  const what = total === null ? `Articles 1–${shown}${exhausted ? ", all that match" : ""}`
    : `${total} matching article${total === 1 ? "" : "s"}${total > shown ? ` · 1–${shown} shown` : ""}`;
  const sort = $("sort").value !== "relevance" && api.params.has("sort") ? ` · ${$("sort").selectedOptions[0].text}` : "";
  const active = [...filters(api)].map(([name, value]) => `${name.replace("_", " ")} ${value}`);
  return `${what}${sort}${active.length ? ` · ${active.join(", ")}` : ""} · ${data.took_ms.toFixed(0)} ms`;
}

function showNothing(q, api) {
  const filtered = [...filters(api)].length > 0;
  $("nothing-text").textContent = `Nothing in the archive answers “${q.trim()}”${filtered ? " with the filters set" : ""}. ` +
    (filtered ? "Search without them, or try other words." : "Try other or fewer words.");
  $("clear-filters").hidden = !filtered;
  $("nothing").hidden = false;
}

async function search(append = false) {
  const api = await ready;
  const q = typed();
  showView("search");
  if (!q.trim()) {
    list.replaceChildren(); statusLine.textContent = ""; more.hidden = true;
    $("nothing").hidden = true; $("facets").hidden = true;
    return;
  }
  if (controller) controller.abort();
  controller = new AbortController();
  const p = params(api);
  if (!append) history.replaceState(null, "", `/?${p}`);
  const from = append ? offset + PAGE_SIZE : 0;
  p.set("k", PAGE_SIZE); p.set("offset", from); p.set("passages", 1);
  if (!append && api.params.has("facets")) p.set("facets", Object.keys(FACETS).join(","));
  statusLine.textContent = "Searching…";
  try {
    const response = await fetch(`/search?${p}`, { signal: controller.signal });
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    offset = from;
    list.dataset.query = q; // which query the list shows (a keystroke's search may still be on its way)
    const nodes = data.results.map((hit) => resultNode(hit, q));
    if (append) list.append(...nodes); else list.replaceChildren(...nodes);
    // Counts beside "nothing found" would contradict it (a server may count the candidates it
    // judged too weak to show).
    if (!append) renderFacets(data.results.length ? data.facets : null, api);
    $("nothing").hidden = true;
    if (!data.results.length && !append) {
      showNothing(q, api);
      statusLine.textContent = `No matching articles · ${data.took_ms.toFixed(0)} ms`;
    } else {
      statusLine.textContent = statusText(data, list.children.length, api);
    }
    more.hidden = data.results.length < PAGE_SIZE;
  } catch (err) {
    if (err.name !== "AbortError") statusLine.textContent = `Search failed: ${err.message}`;
  }
}

function schedule() { clearTimeout(timer); timer = setTimeout(() => search(false), DEBOUNCE_MS); }

const suggestions = new Suggestions(input, $("suggestions"), {
  enabled: false, // until the server is known to have /suggest
  onChoose(item) {
    if (item.kind === "title" && item.article_id) {
      location.assign(`/?${new URLSearchParams({ article: item.article_id, q: typed() })}`);
    } else {
      input.value = completed(input.value, item.text);
      clearTimeout(timer);
      search(false);
    }
  },
});

input.addEventListener("input", schedule);
for (const name of ["mode", "sort", "source", "date_from", "date_to"]) $(name).addEventListener("change", () => search(false));
form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); suggestions.close(); search(false); });
more.addEventListener("click", () => search(true));
$("clear-filters").addEventListener("click", () => {
  for (const name of ["source", "date_from", "date_to"]) $(name).value = "";
  author = "";
  search(false);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); input.select(); }
  if (event.key === "Escape" && document.activeElement === input) { input.value = ""; search(false); }
});

(async function init() {
  const query = new URLSearchParams(location.search);
  for (const name of ["q", "mode", "sort", "date_from", "date_to"]) if (query.get(name)) $(name).value = query.get(name);
  // A value a select does not offer (a mistyped URL) leaves it blank: back to its default.
  for (const name of ["mode", "sort"]) if (!$(name).value) $(name).selectedIndex = 0;
  author = query.get("author") || "";
  const api = await ready;
  $("sort-control").hidden = !api.params.has("sort");
  suggestions.enabled = api.suggest;
  try {
    const stats = await (await fetch("/stats")).json();
    for (const source of stats.sources || []) $("source").append(el("option", { value: source }, source));
    $("index-info").textContent = `${stats.articles} articles · ${stats.passages} passages · ${stats.model}`;
  } catch (err) { /* the page still searches without the stats */ }
  setSource(query.get("source") || "");
  const article = query.get("article");
  if (article) {
    showView("article");
    const offsetParam = (name) => (query.has(name) ? Number(query.get(name)) : undefined);
    showArticle(article, { start: offsetParam("start"), end: offsetParam("end"), query: query.get("q") || "" });
  } else if (input.value) {
    search(false);
  }
})();
