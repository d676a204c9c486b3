// A small history-API router: the location is state, links are ordinary
// <a href> elements that navigate() intercepts, so middle-click and
// "open in a new tab" keep working and the server's SPA fallback serves
// every app path on reload.

export const loc = $state({ path: location.pathname, search: location.search });

export function navigate(to: string, replace = false) {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  loc.path = location.pathname;
  loc.search = location.search;
  window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => {
  loc.path = location.pathname;
  loc.search = location.search;
});

/** Clicks on same-origin links navigate without a page load. */
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
  if (a.pathname.startsWith('/api/')) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});

export function params(): URLSearchParams {
  return new URLSearchParams(loc.search);
}

/** match returns the named segments of path against a pattern such as /e/:entity/:id. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split('/').filter(Boolean);
  const xs = path.split('/').filter(Boolean);
  if (ps.length !== xs.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].startsWith(':')) out[ps[i].slice(1)] = decodeURIComponent(xs[i]);
    else if (ps[i] !== xs[i]) return null;
  }
  return out;
}
