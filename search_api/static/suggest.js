// Suggestions under a search box, from GET /suggest: fetched as the user types, moved through with
// the arrow keys, chosen with Enter or a click, closed with Escape. Used by the search page and the
// widget; a server without /suggest simply shows none.
import { el } from "./render.js";

const DELAY_MS = 100;
const COUNT = 8;

// The query once a term suggestion is chosen: the word being typed is replaced by the term
// ("building in Magni" + "magnitogorsk" -> "building in magnitogorsk "); a suggestion that
// continues the whole query replaces it. The trailing space says the word is complete.
export function completed(query, text) {
  if (text.toLowerCase().startsWith(query.trim().toLowerCase())) return `${text} `;
  return `${query.replace(/\S*$/, "")}${text} `;
}

export class Suggestions {
  // `input` the search box, `list` an empty <ul> under it, `base` the server's origin ("" on the
  // page), `onChoose(suggestion)` what choosing one does.
  constructor(input, list, { base = "", onChoose, enabled = true }) {
    Object.assign(this, { input, list, base, onChoose, enabled, items: [], active: -1, timer: null, controller: null });
    list.setAttribute("role", "listbox");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    this.close();
    input.addEventListener("input", () => this.schedule());
    input.addEventListener("keydown", (event) => this.key(event));
    input.addEventListener("blur", () => this.close());
    // Keep the focus in the box while an option is clicked, so that blur does not close the list first.
    list.addEventListener("mousedown", (event) => event.preventDefault());
  }

  get open() { return !this.list.hidden; }

  schedule() {
    clearTimeout(this.timer);
    if (!this.enabled) return;
    this.timer = setTimeout(() => this.fetch(), DELAY_MS);
  }

  async fetch() {
    const q = this.input.value;
    if (!q.trim()) { this.close(); return; }
    if (this.controller) this.controller.abort();
    this.controller = new AbortController();
    try {
      const params = new URLSearchParams({ q, k: COUNT });
      const response = await fetch(`${this.base}/suggest?${params}`, { signal: this.controller.signal });
      if (!response.ok) { this.close(); return; }
      const data = await response.json();
      // Shown only for what the box still holds, and while it has the focus (in a widget's shadow
      // root, the root knows the focused element; the document only knows the host).
      if (this.input.value === q && this.input.getRootNode().activeElement === this.input) {
        this.show(data.suggestions || [], q);
      }
    } catch (err) { if (err.name !== "AbortError") this.close(); }
  }

  // `items` the suggestions for `q`, the box's text they complete.
  show(items, q) {
    this.items = items;
    this.list.dataset.query = q;
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.list.replaceChildren(...items.map((item, n) => {
      const option = el("li", { role: "option", id: `${this.list.id}-${n}`, class: `suggestion ${item.kind}`,
                                "aria-selected": "false" }, item.text);
      if (item.kind === "title") option.append(el("span", { class: "kind" }, "article"));
      option.addEventListener("click", () => this.choose(n));
      return option;
    }));
    this.list.hidden = !items.length;
    this.input.setAttribute("aria-expanded", String(!this.list.hidden));
  }

  close() {
    clearTimeout(this.timer);
    if (this.controller) this.controller.abort();
    this.list.hidden = true;
    this.list.replaceChildren();
    this.items = [];
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  }

  move(step) {
    const count = this.items.length;
    this.active = this.active < 0 && step < 0 ? count - 1 : (this.active + step + count) % count;
    [...this.list.children].forEach((option, n) => option.setAttribute("aria-selected", String(n === this.active)));
    this.input.setAttribute("aria-activedescendant", `${this.list.id}-${this.active}`);
  }

  choose(n) {
    const item = this.items[n];
    this.close();
    if (item) this.onChoose(item);
  }

  key(event) {
    if (!this.open) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      this.move(event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter" && this.active >= 0) {
      event.preventDefault(); // not a form submission: the chosen suggestion decides
      this.choose(this.active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // Escape closes the list; only a second one clears the box
      this.close();
    }
  }
}
