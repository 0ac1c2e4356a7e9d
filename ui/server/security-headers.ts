// The console's response headers: a strict Content-Security-Policy (scripts and styles only from the
// console itself, no inline code, no eval, no framing), and the other headers that keep a page showing
// attacker-written data inert.

/**
 * Nothing inline, nothing from elsewhere. `connect-src 'self'` covers the same-origin WebSocket
 * (CSP level 3); `img-src data:` is for the app's own SVG icons only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function securityHeaders(tls: boolean): Record<string, string> {
  const h: Record<string, string> = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    "x-permitted-cross-domain-policies": "none",
  };
  if (tls) h["strict-transport-security"] = "max-age=31536000; includeSubDomains";
  return h;
}
