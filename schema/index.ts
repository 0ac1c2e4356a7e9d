// The common schema shared by every part: ECS types, field paths, validation, ids, signals and alerts.
export * from "./ecs.ts";
export * from "./fields.ts";
export * from "./event-id.ts";
export * from "./validate.ts";
export * from "./signal.ts";
