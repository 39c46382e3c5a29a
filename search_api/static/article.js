// The article view (/?article=ID&start=S&end=E&q=...): the cleaned article with the passage that
// matched highlighted, and the story it belongs to (GET /articles/{id}/story), its reports ordered
// by date: the story as it developed, and nothing else.
import { el, safeUrl, articlePath, metaText } from "./render.js";

const $ = (id) => document.getElementById(id);

// `text` with chars [start, end) in <mark class="match">, or the plain text when the offsets
// (code points, from the URL) do not fit it.
function markedText(text, start, end) {
  const chars = Array.from(text);
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= chars.length)) {
    return [text];
  }
  return [chars.slice(0, start).join(""), el("mark", { class: "match" }, chars.slice(start, end).join("")),
          chars.slice(end).join("")];
}

const viewUrl = (id, query) => `/?${new URLSearchParams(query ? { article: id, q: query } : { article: id })}`;

function timelineNode(item, current, query) {
  const when = item.published ? el("time", { datetime: item.published }, item.published) : el("span", { class: "undated" }, "undated");
  const title = item.title || item.article_id;
  const node = el("li", { class: current ? "current" : "", "data-id": item.article_id }, when, " ",
    current ? el("strong", { "aria-current": "page" }, title) : el("a", { href: viewUrl(item.article_id, query) }, title));
  if (item.source) node.append(el("span", { class: "meta" }, ` ${item.source}`));
  if (current) node.append(el("span", { class: "tag" }, "this article"));
  const copies = item.also_published_in || [];
  if (copies.length) node.append(el("span", { class: "tag" }, `same text also in ${copies.map((c) => c.source || c.article_id).join(", ")}`));
  return node;
}

// Fill the article view for article `id`; `start`/`end` the passage to highlight, `query` the
// search to go back to.
export async function showArticle(id, { start, end, query }) {
  $("back").href = query ? `/?${new URLSearchParams({ q: query })}` : "/";
  const text = $("article-text"), timeline = $("timeline");
  text.textContent = "Loading…";
  timeline.replaceChildren();
  let article;
  try {
    const response = await fetch(articlePath(id));
    article = await response.json();
    if (!response.ok) throw new Error(article.detail || response.statusText);
  } catch (err) {
    $("article-title").textContent = "Article not found";
    text.textContent = `Could not load the article: ${err.message}`;
    return;
  }
  document.title = `${article.title || article.id} · article-search`;
  $("article-title").textContent = article.title || "(untitled)";
  const href = safeUrl(article.url);
  $("article-meta").replaceChildren(metaText(article), ...(href ? [" · ", el("a", { class: "original", href }, "original")] : []));
  text.replaceChildren(...markedText(article.text, start, end));
  const match = text.querySelector("mark.match");
  if (match) match.scrollIntoView({ block: "center" });

  timeline.replaceChildren(el("li", {}, "Loading the story…"));
  try {
    const response = await fetch(`${articlePath(id)}/story`);
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    // The reports come oldest first, undated last, this article among them.
    timeline.replaceChildren(...data.articles.map((item) => timelineNode(item, item.article_id === article.id, query)));
    if (data.articles.length < 2) timeline.append(el("li", { class: "none" }, "No other coverage yet."));
  } catch (err) {
    timeline.replaceChildren(el("li", {}, `Could not load the story: ${err.message}`));
  }
}
