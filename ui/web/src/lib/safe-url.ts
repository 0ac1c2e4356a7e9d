// Links built from data must stay inside the console: a same-origin path or nothing. (The safe-rendering
// lint accepts a dynamic href only through this function.)

/** `v` when it is a same-origin absolute path ("/…", not "//…"), else "#". */
export function safeHref(v: string): string {
  return /^\/(?![/\\])/.test(v) && !/[\u0000-\u001f]/.test(v) ? v : "#";
}
