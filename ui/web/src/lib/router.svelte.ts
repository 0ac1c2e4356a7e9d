// A small client-side router over the History API: the path picks the page, the query string holds
// the page's state (filters, search, time range), so every view can be shared by link.

class RouterState {
  path = $state(location.pathname);
  search = $state(location.search);

  constructor() {
    addEventListener("popstate", () => this.sync());
    // same-origin links navigate in place; modified clicks and other targets behave normally
    document.addEventListener("click", (e) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      const a = (e.target as Element | null)?.closest?.("a");
      if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
      e.preventDefault();
      this.go(a.pathname + a.search);
    });
  }

  private sync(): void {
    this.path = location.pathname;
    this.search = location.search;
  }

  get params(): URLSearchParams {
    return new URLSearchParams(this.search);
  }

  /** Navigates to a new entry in the history. */
  go(href: string): void {
    if (href === location.pathname + location.search) return;
    history.pushState(null, "", href);
    this.sync();
    scrollTo(0, 0);
  }

  /** Changes the query string of the current page without a new history entry (filter edits). */
  replaceParams(p: URLSearchParams): void {
    const s = p.toString();
    history.replaceState(null, "", location.pathname + (s ? `?${s}` : ""));
    this.sync();
  }
}

export const router = new RouterState();

/** Matches a path against a pattern like "/chains/:id"; returns the decoded parameters or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split("/");
  const xs = path.split("/");
  if (ps.length !== xs.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].startsWith(":")) {
      try {
        out[ps[i].slice(1)] = decodeURIComponent(xs[i]);
      } catch {
        return null;
      }
    } else if (ps[i] !== xs[i]) return null;
  }
  return out;
}
