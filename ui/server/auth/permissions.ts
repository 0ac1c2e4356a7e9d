// Who may do what in the console: four roles, each a set of permissions. Every API route names the
// one permission it needs; the route-table test proves each is enforced.

export const ROLES = ["viewer", "analyst", "engineer", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  "alerts:read", // live queue, alerts, chains and the events behind them
  "alerts:triage", // acknowledge, assign, close, notes
  "events:search", // free search over all events
  "rules:read", // rules with hits and lint problems, baselines
  "health:read", // pipeline health: rates, lag, dead letters, plan version
  "users:manage", // add, disable, change roles
  "audit:read", // the audit log
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The permission table. Engineers triage too (they tune the rules that raised the alert). */
export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: ["alerts:read", "events:search", "rules:read"],
  analyst: ["alerts:read", "alerts:triage", "events:search", "rules:read"],
  engineer: ["alerts:read", "alerts:triage", "events:search", "rules:read", "health:read"],
  admin: PERMISSIONS,
};

const TABLE = new Map<Role, ReadonlySet<Permission>>(ROLES.map((r) => [r, new Set(ROLE_PERMISSIONS[r])]));

export function isRole(v: unknown): v is Role {
  return typeof v === "string" && (ROLES as readonly string[]).includes(v);
}

export function can(role: Role, permission: Permission): boolean {
  return TABLE.get(role)?.has(permission) ?? false;
}

export function permissionsOf(role: Role): Permission[] {
  return [...(TABLE.get(role) ?? [])];
}
