// The search page: results as you type, highlighted answers, related coverage, filters.
// Plain DOM, no build step, nothing loaded from elsewhere.
"use strict";

const PAGE_SIZE = 10;
const DEBOUNCE_MS = 250;
const $ = (id) => document.getElementById(id);
const form = $("search-form"), input = $("q"), list = $("results"), statusLine = $("status"), more = $("more");
let timer = null, controller = null, offset = 0;

function params() {
  const p = new URLSearchParams();
  p.set("q", input.value.trim());
  p.set("mode", $("mode").value);
  for (const name of ["source", "date_from", "date_to"]) if ($(name).value) p.set(name, $(name).value);
  return p;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const SNIPPET_CONTEXT = 160; // characters shown around the answer

// A URL from the archive's data as a link target, or null: only http(s) links, so that a scraped
// "javascript:" or "data:" URL never becomes something a click runs.
function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (err) { return null; } // not an absolute URL
}

// A link to `url` with `text`, or the text alone when the URL is not http(s).
function linkOrText(url, text) {
  const href = safeUrl(url);
  return href ? el("a", { href }, text) : el("span", {}, text);
}

// An article id as one path segment: "/" and the rest percent-encoded, and dots too, or the
// browser resolves an id of ".." as a step up the path.
const articlePath = (id) => `/articles/${encodeURIComponent(id).replace(/\./g, "%2E")}`;

// The passage with its highlighted sentences in <strong>, cut to the answer and some context around
// it (with "…" where text is left out). Offsets are into the article text, in Unicode code points
// (docs/api.md), while JS strings index UTF-16 units: an emoji is one code point but two units, so
// the text is sliced as an array of code points.
function passageNode(passage) {
  const node = el("p", { class: "passage" });
  const chars = Array.from(passage.text);
  const cut = (a, b) => chars.slice(a, b).join("");
  const spans = [...passage.highlights].sort((a, b) => a[0] - b[0]).map(([a, b]) => [a - passage.start, b - passage.start]);
  let from = 0, to = chars.length;
  if (spans.length) {
    const last = spans[spans.length - 1][1];
    from = Math.max(0, spans[0][0] - SNIPPET_CONTEXT);
    to = Math.min(chars.length, last + SNIPPET_CONTEXT);
    if (from > 0) from = chars.indexOf(" ", from) + 1 || from;
    if (to < chars.length && chars.lastIndexOf(" ", to) > last) to = chars.lastIndexOf(" ", to);
  }
  if (from > 0) node.append("… ");
  let cursor = from;
  for (const [s, e] of spans) {
    if (s < cursor) continue;
    node.append(cut(cursor, s), el("strong", { class: "answer" }, cut(s, e)));
    cursor = e;
  }
  node.append(cut(cursor, to));
  if (to < chars.length) node.append(" …");
  return node;
}

function resultNode(hit) {
  const title = linkOrText(hit.url, hit.title || "(untitled)");
  const meta = [hit.source, hit.published, hit.author].filter(Boolean).join(" · ");
  const item = el("li", { class: "result", "data-id": hit.article_id },
    el("h2", {}, title), el("div", { class: "meta" }, meta));
  if (hit.passages.length) item.append(passageNode(hit.passages[0]));
  if (hit.also_published_in && hit.also_published_in.length) {
    item.append(el("div", { class: "also" }, "Also published in: " +
      hit.also_published_in.map((a) => a.source || a.article_id).join(", ")));
  }
  const button = el("button", { class: "related-link", type: "button", "aria-expanded": "false" }, "Related coverage");
  button.addEventListener("click", () => toggleRelated(hit.article_id, item, button));
  item.append(button);
  return item;
}

async function toggleRelated(id, item, button) {
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
      linkOrText(r.url, r.title || r.article_id),
      el("span", { class: "meta" }, ` ${[r.source, r.published].filter(Boolean).join(" · ")}`),
      ...(r.near_duplicate ? [el("span", { class: "tag" }, "same text")] : []))) : [el("li", {}, "No related coverage.")]));
  } catch (err) {
    box.replaceChildren(el("li", {}, `Could not load related coverage: ${err.message}`));
  }
}

async function search(append = false) {
  const q = input.value.trim();
  if (!q) { list.replaceChildren(); statusLine.textContent = ""; more.hidden = true; return; }
  if (controller) controller.abort();
  controller = new AbortController();
  offset = append ? offset + PAGE_SIZE : 0;
  const p = params();
  p.set("k", PAGE_SIZE); p.set("offset", offset); p.set("passages", 1);
  if (!append) history.replaceState(null, "", `/?${params()}`);
  statusLine.textContent = "Searching…";
  try {
    const response = await fetch(`/search?${p}`, { signal: controller.signal });
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    const nodes = data.results.map(resultNode);
    if (append) list.append(...nodes); else list.replaceChildren(...nodes);
    statusLine.textContent = data.results.length || append
      ? `${offset + data.results.length} results shown · ${data.took_ms.toFixed(0)} ms`
      : `No results for “${q}”.`;
    more.hidden = data.results.length < PAGE_SIZE;
  } catch (err) {
    if (err.name !== "AbortError") statusLine.textContent = `Search failed: ${err.message}`;
  }
}

function schedule() { clearTimeout(timer); timer = setTimeout(() => search(false), DEBOUNCE_MS); }

input.addEventListener("input", schedule);
for (const name of ["mode", "source", "date_from", "date_to"]) $(name).addEventListener("change", () => search(false));
form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); search(false); });
more.addEventListener("click", () => search(true));
document.addEventListener("keydown", (event) => {
  if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); input.select(); }
  if (event.key === "Escape" && document.activeElement === input) { input.value = ""; search(false); }
});

(async function init() {
  const query = new URLSearchParams(location.search);
  for (const name of ["q", "mode", "date_from", "date_to"]) if (query.get(name)) $(name).value = query.get(name);
  try {
    const stats = await (await fetch("/stats")).json();
    for (const source of stats.sources || []) $("source").append(el("option", { value: source }, source));
    if (query.get("source")) $("source").value = query.get("source");
    $("index-info").textContent = `${stats.articles} articles · ${stats.passages} passages · ${stats.model}`;
  } catch (err) { /* the page still searches without the stats */ }
  if (input.value) search(false);
})();
