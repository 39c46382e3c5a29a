// The embeddable search box (docs/widget.md): one element and one script tag put it on another site.
//
//   <div id="article-search"></div>
//   <script src="ARCHIVE/widget.js" data-k="5"></script>
//
// (ARCHIVE: the address of the archive's `article-search serve`.)
// It searches the server it was loaded from, across origins (that server's --cors-origin
// allow-list must hold the site's origin), loads its code from that server only, and draws inside
// a shadow root, so that the site's styles and its own never meet.
(function () {
  "use strict";
  const script = document.currentScript;
  const base = new URL(script.src).origin;
  const options = script.dataset;
  const selector = options.target || "#article-search";
  const host = document.querySelector(selector);
  if (!host) {
    console.error(`article-search widget: no element matches "${selector}" (data-target)`);
    return;
  }
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<style>
    .widget { all: initial; display: block; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      color: #1d1d1f; text-align: left; }
    .widget * { box-sizing: border-box; }
    form { position: relative; margin: 0; }
    input { width: 100%; font: inherit; font-size: 1.05em; padding: .5em .7em; border: 1px solid #bbb; border-radius: .45em;
      color: inherit; background: #fff; display: block; }
    input:focus { outline: 3px solid #a8c7fa; border-color: #0b57d0; }
    .suggestions { position: absolute; z-index: 10; left: 0; right: 0; top: 100%; margin: .2em 0 0; padding: .25em 0;
      list-style: none; background: #fff; border: 1px solid #bbb; border-radius: .45em; box-shadow: 0 4px 14px #0002; }
    .suggestion { padding: .25em .7em; cursor: pointer; }
    .suggestion[aria-selected="true"], .suggestion:hover { background: #e8f0fe; }
    .kind { font-size: .75em; color: #5f6368; margin-left: .5em; }
    .status { color: #5f6368; font-size: .85em; min-height: 1.3em; margin: .4em 0; }
    ol { list-style: none; margin: 0; padding: 0; }
    li.result { padding: .55em 0; border-bottom: 1px solid #e3e3e3; }
    a.title { color: #0b57d0; text-decoration: none; font-weight: 600; }
    a.title:hover, a.title:focus { text-decoration: underline; }
    .meta { color: #5f6368; font-size: .8em; }
    .passage { margin: .2em 0 0; font-size: .92em; }
    strong.answer { background: #fff3b0; font-weight: 600; }
    mark.term { background: none; color: inherit; font-weight: 700; text-decoration: underline 2px #f9ab00; text-decoration-skip-ink: none; }
    [hidden] { display: none !important; }
  </style>
  <div class="widget" part="widget">
    <form role="search" autocomplete="off">
      <input type="search" maxlength="2000" aria-label="Search the archive">
      <ul class="suggestions" id="article-search-suggestions" aria-label="Suggestions" hidden></ul>
    </form>
    <p class="status" role="status" aria-live="polite"></p>
    <ol class="results"></ol>
  </div>`;
  const form = root.querySelector("form"), input = root.querySelector("input");
  const statusLine = root.querySelector(".status"), results = root.querySelector(".results");
  input.placeholder = options.placeholder || "Search the archive";

  Promise.all([import(`${base}/static/render.js`), import(`${base}/static/suggest.js`)])
    .then(([render, suggest]) => start(render, suggest))
    .catch(() => {
      statusLine.textContent = `Search is unavailable: ${base} does not answer this site ` +
                               "(its --cors-origin list must hold this site's origin).";
    });

  function start({ el, titleNodes, passageNode, metaText, articleViewUrl, capabilities }, { Suggestions, completed }) {
    const k = Math.min(Math.max(parseInt(options.k, 10) || 5, 1), 20);
    const ready = capabilities(base);
    const target = options.newTab !== undefined ? { target: "_blank", rel: "noopener" } : {};
    let timer = null, controller = null;

    async function search() {
      const q = input.value.replace(/^\s+/, ""); // a trailing space says the last word is complete
      if (!q.trim()) { results.replaceChildren(); statusLine.textContent = ""; return; }
      const api = await ready;
      const p = new URLSearchParams({ q, k, passages: 1 });
      for (const name of ["mode", "source", "sort"]) if (options[name] && api.params.has(name)) p.set(name, options[name]);
      if (controller) controller.abort();
      controller = new AbortController();
      try {
        const response = await fetch(`${base}/search?${p}`, { signal: controller.signal });
        const data = await response.json();
        if (!response.ok) throw new Error(data.detail || response.statusText);
        results.replaceChildren(...data.results.map((hit) => el("li", { class: "result", "data-id": hit.article_id },
          el("a", { class: "title", href: articleViewUrl(base, hit, q.trim()), ...target },
             ...titleNodes(hit.title || "(untitled)", hit.title_terms)),
          el("div", { class: "meta" }, metaText(hit)),
          ...(hit.passages.length ? [passageNode(hit.passages[0])] : []))));
        results.dataset.query = q; // which query the list shows
        statusLine.textContent = data.results.length ? "" : `Nothing found for “${q.trim()}”.`;
      } catch (err) {
        if (err.name !== "AbortError") statusLine.textContent = `Search failed: ${err.message}`;
      }
    }

    const suggestions = new Suggestions(input, root.querySelector(".suggestions"), {
      base, enabled: false,
      onChoose(item) {
        if (item.kind === "title" && item.article_id) {
          const view = `${base}/?${new URLSearchParams({ article: item.article_id })}`;
          if (target.target) window.open(view, "_blank", "noopener"); else location.assign(view);
        } else {
          input.value = completed(input.value, item.text);
          search();
        }
      },
    });
    ready.then((api) => { suggestions.enabled = api.suggest; });
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
    form.addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); suggestions.close(); search(); });
  }
})();
