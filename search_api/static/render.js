// What the search page, the article view and the embeddable widget draw the same way: elements,
// safe links, and text marked at the API's offsets.
//
// Offsets are into the article's cleaned text, in Unicode code points (docs/api.md), while JS
// strings index UTF-16 units: an emoji is one code point but two units, so text is sliced as an
// array of code points (Array.from).

const SNIPPET_CONTEXT = 160; // characters shown around the answer

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// A URL from the archive's data as a link target, or null: only http(s) links, so that a scraped
// "javascript:" or "data:" URL never becomes something a click runs.
export function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (err) { return null; } // not an absolute URL
}

// An article id as one path segment: "/" and the rest percent-encoded, and dots too, or the
// browser resolves an id of ".." as a step up the path.
export const articlePath = (id) => `/articles/${encodeURIComponent(id).replace(/\./g, "%2E")}`;

// The address of the article view for a search hit: `base` is the server's origin ("" on the page
// itself), the best passage's start/end travel along so that the view highlights it.
export function articleViewUrl(base, hit, query) {
  const p = new URLSearchParams({ article: hit.article_id });
  const passage = hit.passages && hit.passages[0];
  if (passage) { p.set("start", passage.start); p.set("end", passage.end); }
  if (query) p.set("q", query);
  return `${base}/?${p}`;
}

// Spans as sorted [start, end] pairs shifted by -`origin`, or [] when the API sent none (a server
// without `terms` still draws the text, unmarked).
const spansOf = (spans, origin = 0) =>
  [...(spans || [])].map(([a, b]) => [a - origin, b - origin]).sort((x, y) => x[0] - y[0]);

// chars[from, to) as nodes, with each span of `terms` that falls inside as <mark class="term">.
function withTerms(chars, from, to, terms) {
  const nodes = [];
  let cursor = from;
  for (const [a, b] of terms) {
    const s = Math.max(a, cursor), e = Math.min(b, to);
    if (e <= s) continue;
    if (s > cursor) nodes.push(chars.slice(cursor, s).join(""));
    nodes.push(el("mark", { class: "term" }, chars.slice(s, e).join("")));
    cursor = e;
  }
  if (cursor < to) nodes.push(chars.slice(cursor, to).join(""));
  return nodes;
}

// A title with its matched query words (`title_terms`, offsets into the title) marked.
export function titleNodes(title, titleTerms) {
  const chars = Array.from(title);
  return withTerms(chars, 0, chars.length, spansOf(titleTerms));
}

// The passage cut to its answer (the `highlights`, in <strong class="answer">) and some context
// around it, with "…" where text is left out and the matched query words (`terms`) marked inside.
// Without highlights the cut is around the first matched word; without either, the whole passage.
export function passageNode(passage) {
  const node = el("p", { class: "passage" });
  const chars = Array.from(passage.text);
  const answers = spansOf(passage.highlights, passage.start);
  const terms = spansOf(passage.terms, passage.start);
  const anchor = answers.length ? answers : terms.slice(0, 1);
  let from = 0, to = chars.length;
  if (anchor.length) {
    const last = anchor[anchor.length - 1][1];
    from = Math.max(0, anchor[0][0] - SNIPPET_CONTEXT);
    to = Math.min(chars.length, last + SNIPPET_CONTEXT);
    if (from > 0) from = chars.indexOf(" ", from) + 1 || from;
    if (to < chars.length && chars.lastIndexOf(" ", to) > last) to = chars.lastIndexOf(" ", to);
  }
  if (from > 0) node.append("… ");
  let cursor = from;
  for (const [s, e] of answers) {
    if (s < cursor) continue;
    node.append(...withTerms(chars, cursor, s, terms), el("strong", { class: "answer" }, ...withTerms(chars, s, e, terms)));
    cursor = e;
  }
  node.append(...withTerms(chars, cursor, to, terms));
  if (to < chars.length) node.append(" …");
  return node;
}

// "Source · 2019-01-04 · Author", leaving out what the article lacks.
export const metaText = (hit) => [hit.source, hit.published, hit.author].filter(Boolean).join(" · ");

// The search parameters a server accepts and whether it has /suggest, from its OpenAPI document,
// so that a client degrades to what an older server offers instead of failing on a 422.
export async function capabilities(base = "") {
  try {
    const spec = await (await fetch(`${base}/openapi.json`)).json();
    const search = spec.paths["/search"].get.parameters || [];
    return { params: new Set(search.map((p) => p.name)), suggest: "/suggest" in spec.paths };
  } catch (err) {
    return { params: new Set(["q", "k", "offset", "mode", "source", "date_from", "date_to", "passages"]), suggest: false };
  }
}
