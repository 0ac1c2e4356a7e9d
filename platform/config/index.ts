// Typed config: one YAML file plus SIGIL_* environment overrides, strict, with named defaults.
export * from "./schema.ts";
export * from "./load.ts";
export { readSecret } from "./secret.ts";
