// Component tests in a DOM: log content and entity names render as text (never markup), the
// virtualized list keeps the DOM small, and the entity graph draws what it is given.
import { afterEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import EventFields from "./EventFields.svelte";
import VirtualList from "./test-fixtures/ListOfNumbers.svelte";
import EntityGraph from "../routes/chain/EntityGraph.svelte";
import { flattenEvent } from "./flatten.ts";
import { safeHref } from "./safe-url.ts";
import { columnOf } from "../routes/chain/graph-layout.ts";

const PAYLOADS = [
  `<script>window.__pwned=1</script>`,
  `<img src=x onerror="window.__pwned=1">`,
  `"><svg onload=window.__pwned=1>`,
  `javascript:window.__pwned=1`,
  `<iframe srcdoc="<script>parent.__pwned=1</script>">`,
];

let mounted: Record<string, unknown>[] = [];
afterEach(() => {
  for (const m of mounted) unmount(m);
  mounted = [];
  document.body.innerHTML = "";
  delete (window as unknown as Record<string, unknown>)["__pwned"];
});

function render<P extends Record<string, unknown>>(component: unknown, props: P): HTMLElement {
  const target = document.createElement("div");
  document.body.appendChild(target);
  mounted.push(mount(component as never, { target, props }) as Record<string, unknown>);
  flushSync();
  return target;
}

describe("EventFields", () => {
  it("shows hostile values and keys as text", () => {
    const event = { user_agent: { original: PAYLOADS[0] }, url: { original: PAYLOADS[3] }, process: { command_line: PAYLOADS[1] }, [PAYLOADS[2]]: "key is hostile too", file: { path: PAYLOADS[4] } };
    const el = render(EventFields, { event });
    const text = el.textContent ?? "";
    for (const p of PAYLOADS) expect(text).toContain(p);
    expect(el.querySelectorAll("script, img, svg, iframe, a").length).toBe(0);
    expect((window as unknown as Record<string, unknown>)["__pwned"]).toBeUndefined();
  });

  it("flattens nested fields to dotted paths and keeps __proto__ as data", () => {
    const rows = flattenEvent(JSON.parse('{"a":{"b":1,"c":[1,2]},"__proto__":{"x":1},"n":null}'));
    expect(rows).toEqual([
      { path: "a.b", value: "1", kind: "number" },
      { path: "a.c", value: "1, 2", kind: "array" },
      { path: "__proto__.x", value: "1", kind: "number" },
      { path: "n", value: "null", kind: "null" },
    ]);
  });
});

describe("VirtualList", () => {
  it("renders only the rows in view out of 10,000", () => {
    const el = render(VirtualList, { count: 10_000 });
    const rows = el.querySelectorAll('[role="listitem"]');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(60);
    expect(rows[0].textContent).toBe("row 0");
    const spacer = el.querySelector<HTMLElement>(".spacer")!;
    expect(spacer.style.height).toBe(`${10_000 * 30}px`);
  });
});

describe("EntityGraph", () => {
  it("draws nodes and edges with labels as SVG text", () => {
    const nodes = [
      { id: "user:bob", type: "user", label: PAYLOADS[2], steps: [0], key: true },
      { id: "host:ws1", type: "host", label: "ws1", steps: [0, 1], key: true },
      { id: "process:x", type: "process", label: PAYLOADS[1], steps: [1], key: false },
    ];
    const edges = [
      { from: "user:bob", to: "host:ws1", relation: "on", steps: [0] },
      { from: "host:ws1", to: "process:x", relation: "ran", steps: [1] },
    ];
    const el = render(EntityGraph, { nodes, edges });
    expect(el.querySelectorAll('[data-testid="graph-node"]').length).toBe(3);
    expect(el.querySelectorAll("g.edge").length).toBe(2);
    expect(el.querySelectorAll("img, script, iframe").length).toBe(0);
    expect(el.querySelector("svg svg")).toBeNull();
    expect(el.textContent).toContain("ran");
  });

  it("lays out sources, users, hosts, processes and destinations left to right", () => {
    const n = (id: string, type: string) => ({ id, type, label: id, steps: [0], key: false });
    const cols = columnOf(
      [n("ip:src", "ip"), n("user:u", "user"), n("host:h", "host"), n("process:p", "process"), n("process:c", "process"), n("ip:dst", "ip")],
      [
        { from: "ip:src", to: "host:h", relation: "connected to", steps: [0] },
        { from: "user:u", to: "host:h", relation: "on", steps: [0] },
        { from: "host:h", to: "process:p", relation: "ran", steps: [0] },
        { from: "process:p", to: "process:c", relation: "spawned", steps: [0] },
        { from: "process:c", to: "ip:dst", relation: "connected to", steps: [0] },
      ],
    );
    expect(Object.fromEntries(cols)).toEqual({ "ip:src": 0, "user:u": 1, "host:h": 2, "process:p": 3, "process:c": 4, "ip:dst": 5 });
  });
});

describe("safeHref", () => {
  it("keeps same-origin paths and refuses everything else", () => {
    expect(safeHref("/chains/abc")).toBe("/chains/abc");
    for (const bad of ["javascript:alert(1)", "//evil.example/x", "/\\evil.example", "https://evil.example", "/x\u0000y", "data:text/html,x"]) expect(safeHref(bad)).toBe("#");
  });
});
